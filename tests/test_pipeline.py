"""End-to-end generation with tiny random SVD encoders and the tiny UNet, loaded as users load them."""

import json

import pytest
import torch

from puppet_master.diagnostics.selfcheck import demo_image
from puppet_master.drags import DragDocumentError
from puppet_master.encoders import EncoderLoadError, SVDEncoders, load_svd_encoders
from puppet_master.pipeline import PuppetMasterPipeline, generate_frames
from puppet_master.sampler_settings import SamplerSettings
from puppet_master.sampling import GenerationCancelled

DRAGS = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [45, 12]]}]}


@pytest.fixture(scope="module")
def pipeline(tiny_unet_file, tiny_svd_folder):
    return PuppetMasterPipeline.from_files(tiny_unet_file, tiny_svd_folder, device="cpu")


def test_encoders_follow_svd_conventions(tiny_svd_folder):
    encoders = load_svd_encoders(tiny_svd_folder)
    pixels = torch.rand(1, 3, 64, 64)
    latents = encoders.vae.encode(pixels)
    assert latents.shape == (1, 4, 8, 8)
    assert encoders.image_encoder.embed(pixels).shape == (1, 1, 32)
    decoded = encoders.vae.decode(torch.randn(6, 4, 8, 8), chunk_size=4)
    assert decoded.shape == (6, 3, 64, 64) and decoded.min() >= 0 and decoded.max() <= 1


def test_generation_runs_end_to_end_and_is_seeded(pipeline):
    image, mask = demo_image()
    result = pipeline(image, DRAGS, mask, steps=2, size=64, seed=5)
    assert result.frames.shape == (14, 64, 64, 3) and result.frames.dtype == torch.float32
    assert result.frames.min() >= 0 and result.frames.max() <= 1
    assert result.drags.shape == (14, 5, 4) and result.drags[:, 1:].eq(0).all()
    assert len(result.images()) == 14
    assert result.on_original(image, mask).shape == (14, 80, 96, 3)
    assert torch.equal(pipeline(image, DRAGS, mask, steps=2, size=64, seed=5).frames, result.frames)
    assert not torch.equal(pipeline(image, DRAGS, mask, steps=2, size=64, seed=6).frames, result.frames)


def test_drags_are_remapped_into_the_crop(pipeline):
    image, mask = demo_image()
    result = pipeline(image, json.dumps(DRAGS), mask, steps=1, size=64, frames=4, max_guidance=1.0)
    start = result.crop.to_crop([[45, 25]])[0] / 64
    assert torch.allclose(result.drags[0, 0, :2], torch.tensor(start, dtype=torch.float32))
    assert result.frames.shape[0] == 4


def test_cancelling_stops_the_generation(pipeline):
    import puppet_master

    image, _ = demo_image()
    with pytest.raises(puppet_master.GenerationCancelled, match="stopped by the callback after step 1 of 3"):
        pipeline(image, DRAGS, steps=3, size=64, callback=lambda step, total, latents: False)
    assert puppet_master.GenerationCancelled is GenerationCancelled


def test_bad_generation_inputs_are_clear_errors(pipeline):
    image, mask = demo_image()
    with pytest.raises(ValueError, match="size must be a multiple of 8"):
        pipeline(image, DRAGS, mask, size=60)
    outside = {**DRAGS, "drags": [{"points": [[45, 25], [45, 95]]}]}
    with pytest.raises(DragDocumentError, match="drag 1 point 2 .* outside the 96x80 image"):
        pipeline(image, outside, mask, size=64)
    with pytest.raises(DragDocumentError, match="'drags.json', which looks like a file path, not the document's JSON"):
        pipeline(image, "drags.json", mask, size=64)
    with pytest.raises(ValueError, match=r"decode_chunk_size must be a whole number of at least 1 \(official 14\)"):
        pipeline(image, DRAGS, mask, size=64, decode_chunk_size=0)
    with pytest.raises(ValueError, match="negative must be one of official, drags_only"):
        pipeline(image, DRAGS, mask, size=64, negative="none")


def test_missing_or_incomplete_svd_folders_say_which_files_go_where(tmp_path, tiny_svd_folder, monkeypatch):
    with pytest.raises(EncoderLoadError, match="(?s)SVD folder not found.*vae/config.json"):
        load_svd_encoders(tmp_path / "nowhere")
    (tmp_path / "partial" / "vae").mkdir(parents=True)
    (tmp_path / "partial" / "vae" / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(EncoderLoadError, match="lacks vae/diffusion_pytorch_model.safetensors, image_encoder/config"):
        load_svd_encoders(tmp_path / "partial")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="(?s)hub is offline.*feature_extractor/preprocessor_config.json"):
        load_svd_encoders("stabilityai/stable-video-diffusion-img2vid")


def test_a_unet_function_is_called_after_the_encoders(pipeline):
    """ComfyUI may move the UNet off the GPU to make room for the encoders: the Sampler node hands over a
    function that loads it again, which must run after both encoders and give the same frames."""
    events = []

    class Recorded:
        def __init__(self, inner, name):
            self.inner, self.name = inner, name

        def __getattr__(self, attribute):
            def call(*args, **kwargs):
                events.append(f"{self.name}.{attribute}")
                return getattr(self.inner, attribute)(*args, **kwargs)

            return call

    encoders = SVDEncoders(Recorded(pipeline.encoders.vae, "vae"), Recorded(pipeline.encoders.image_encoder, "clip"))
    pixels, drags = torch.rand(1, 3, 64, 64), torch.zeros(14, 5, 4)

    def ready_unet():
        events.append("unet")
        return pipeline.unet

    two_steps = SamplerSettings(steps=2)
    frames = generate_frames(ready_unet, encoders, pixels, drags, two_steps)
    assert events == ["vae.encode", "clip.embed", "unet", "vae.decode"]
    assert torch.equal(frames, generate_frames(pipeline.unet, pipeline.encoders, pixels, drags, two_steps))
