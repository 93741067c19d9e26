"""The ComfyUI nodes called as ComfyUI calls them, without ComfyUI (comfy_env's plain-torch fallbacks).

The MODEL (Loader) and the sampling need ComfyUI itself: tests/e2e/test_native_graph.py runs them in a real
ComfyUI; here everything up to the sampler's inputs, and every error raised before ComfyUI is involved."""

import json
import shutil

import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel

from nodes import NODES, NODES_BY_ID
from nodes.conditioning import PuppetMasterConditioning
from nodes.crop_nodes import PuppetMasterPasteBack, PuppetMasterPrepareImage
from nodes.drag_nodes import PuppetMasterDrags, PuppetMasterDrawDrags
from nodes.loaders import PuppetMasterLoader, PuppetMasterSVDEncoders
from nodes.native_model import DRAGS_KEY
from nodes.sampler import PuppetMasterSampler
from nodes.v3 import ComfyExtension, io
from puppet_master.diagnostics.selfcheck import demo_image, tiny_unet_config
from puppet_master.drags import DragDocumentError
from puppet_master.loading import SVD_ARCHITECTURE_KEYS, CheckpointError
from puppet_master.video import from_pil
from support import REPO

DRAGS = json.dumps({"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [40, 15], [45, 10]]}]})


@pytest.fixture
def models(tmp_path, monkeypatch, tiny_unet_file, tiny_svd_folder):
    (tmp_path / "puppet_master").mkdir()
    shutil.copy(tiny_unet_file, tmp_path / "puppet_master" / "tiny.safetensors")
    shutil.copytree(tiny_svd_folder, tmp_path / "diffusers" / "svd_tiny")
    monkeypatch.setenv("PUPPET_MASTER_MODELS", str(tmp_path))
    return tmp_path


@pytest.fixture
def inputs():
    image, mask = demo_image()
    return from_pil([image]), from_pil([mask.convert("RGB")])[..., 0]


def test_every_node_declares_itself_for_comfyui(models):
    """Each node is a V3 node of the real comfy_api whose schema ComfyUI accepts (it validates ids and types)."""
    assert set(NODES_BY_ID) == {node.__name__ for node in NODES} and len(NODES) == 8
    for name, node in NODES_BY_ID.items():
        schema = node.GET_SCHEMA()
        assert issubclass(node, io.ComfyNode) and schema.node_id == name, name
        assert schema.category == "Puppet-Master" and schema.display_name.startswith("Puppet-Master "), name
        assert schema.inputs and schema.outputs and node.INPUT_TYPES()["required"], name
    assert PuppetMasterLoader.INPUT_TYPES()["required"]["unet_name"][1]["options"] == ["tiny.safetensors"]
    assert PuppetMasterSVDEncoders.INPUT_TYPES()["required"]["svd_folder"][1]["options"] == ["svd_tiny"]
    assert PuppetMasterSampler.INPUT_TYPES()["required"]["seed"][1]["control_after_generate"] is True


def test_the_pack_registers_its_nodes_through_the_v3_entrypoint():
    """ComfyUI awaits `comfy_entrypoint()` and then `get_node_list()`; a NODE_CLASS_MAPPINGS beside it would win."""
    import asyncio
    import importlib.util
    import sys

    root = REPO / "__init__.py"
    spec = importlib.util.spec_from_file_location("pm_pack", root, submodule_search_locations=[str(REPO)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pack
    try:
        spec.loader.exec_module(pack)
        extension = asyncio.run(pack.comfy_entrypoint())
        listed = asyncio.run(extension.get_node_list())
    finally:
        for name in [name for name in sys.modules if name == spec.name or name.startswith(f"{spec.name}.")]:
            sys.modules.pop(name)
    assert isinstance(extension, ComfyExtension) and not hasattr(pack, "NODE_CLASS_MAPPINGS")
    assert [node.GET_SCHEMA().node_id for node in listed] == [node.__name__ for node in NODES]


def test_nodes_build_the_samplers_inputs(models, inputs):
    image, mask = inputs
    (encoders,) = PuppetMasterSVDEncoders.execute("svd_tiny")
    built = PuppetMasterDrags.execute(image, DRAGS, 14)
    drags, preview, tracks, start_points = built
    assert json.loads(start_points) == [{"x": 45, "y": 25}]
    assert preview.shape == (1, 80, 96, 3) and not torch.equal(preview, image)
    assert tracks["track_path"].shape == (14, 1, 2) and tracks["track_visibility"].all()
    assert tracks["track_path"][0, 0].tolist() == [45.0, 25.0] and tracks["track_path"][-1, 0].tolist() == [45.0, 10.0]
    cropped, prepared, crop = PuppetMasterPrepareImage.execute(image, drags, 2.2, 64, mask)
    assert cropped.shape == (1, 64, 64, 3) and prepared.crop == crop
    positive, negative, latent = PuppetMasterConditioning.execute(cropped, prepared, "official", encoders=encoders)
    assert latent["samples"].shape == (14, 4, 8, 8) and not latent["samples"].any()
    [[embedding, values]] = positive
    assert embedding.shape == (1, 1, 32) and values["concat_latent_image"].shape == (1, 4, 8, 8)
    assert (
        values[DRAGS_KEY].shape == (14, 5, 4) and values[DRAGS_KEY][:, 0].any() and not values[DRAGS_KEY][:, 1:].any()
    )
    assert values[DRAGS_KEY][0, 0, :2].tolist() == values[DRAGS_KEY][-1, 0, :2].tolist()  # the grabbed point stays
    [[zero_embedding, zero_values]] = negative
    assert not zero_embedding.any() and not any(value.any() for value in zero_values.values())
    _, drags_only, _ = PuppetMasterConditioning.execute(cropped, prepared, "drags_only", encoders=encoders)
    assert torch.equal(drags_only[0][0], embedding) and not drags_only[0][1][DRAGS_KEY].any()
    assert torch.equal(drags_only[0][1]["concat_latent_image"], values["concat_latent_image"])
    frames = torch.rand(14, 64, 64, 3)
    (pasted,) = PuppetMasterPasteBack.execute(frames, crop, image, mask)
    assert pasted.shape == (14, 80, 96, 3)
    for video in (frames, pasted):
        (drawn,) = PuppetMasterDrawDrags.execute(video, prepared)
        assert drawn.shape == video.shape and not torch.equal(drawn, video)


def test_conditioning_pads_an_unprepared_image_to_a_square(models, inputs):
    image, _ = inputs
    (encoders,) = PuppetMasterSVDEncoders.execute("svd_tiny")
    drags, *_ = PuppetMasterDrags.execute(image, DRAGS, 4)
    positive, _, latent = PuppetMasterConditioning.execute(image, drags, "official", encoders=encoders)
    assert latent["samples"].shape == (4, 4, 32, 32) and positive[0][1][DRAGS_KEY].shape == (4, 5, 4)


def test_an_empty_mask_means_no_mask(inputs):
    """ComfyUI's LoadImage gives a 64x64 all-zero MASK for images without alpha."""
    image, _ = inputs
    drags, *_ = PuppetMasterDrags.execute(image, DRAGS, 14)
    _, _, crop = PuppetMasterPrepareImage.execute(image, drags, 2.2, 64, torch.zeros(1, 64, 64))
    assert crop.side == 96  # padded to a square around the whole image, not cropped to an object


def test_start_points_are_each_drags_first_point_in_pixels_of_the_nodes_image(inputs):
    """SAM3 Detect's positive_coords: a document drawn on a 512x512 picture is rescaled to the 96x80 image first,
    and every drag gives its start, rounded half up to the whole pixel (a held point too)."""
    image, _ = inputs
    drawn = {"version": 1, "width": 512, "height": 512, "drags": [
        {"points": [[256, 300], [256, 200]]}, {"points": [[13.4, 6.4], [13.4, 6.4]]}, {"points": [[512, 512], [9, 9]]},
    ]}  # fmt: skip
    *_, start_points = PuppetMasterDrags.execute(image, json.dumps(drawn), 14)
    # 256 * 96/512 = 48, 300 * 80/512 = 46.875; 13.4 * 0.1875 = 2.5125, 6.4 * 0.15625 = 1.0; the corner: last pixel
    assert start_points == '[{"x": 48, "y": 47}, {"x": 3, "y": 1}, {"x": 95, "y": 79}]'
    empty = json.dumps({"version": 1, "width": 96, "height": 80, "drags": []})
    assert PuppetMasterDrags.execute(image, empty, 14)[3] == "[]"


def test_start_points_follow_the_rule_the_editor_marks_them_by():
    """tests/js/vectors.json: the same pixels as web/drag_logic.js startPoints (node --test checks that side)."""
    from nodes.start_points import start_points
    from puppet_master.drags import parse_drag_document

    cases = json.loads((REPO / "tests" / "js" / "vectors.json").read_text(encoding="utf-8"))["start_points"]
    assert len(cases) >= 3
    for case in cases:
        assert json.loads(start_points(parse_drag_document(case["document"]))) == case["expected"], case


def test_tracks_input_replaces_the_editor_drags(inputs):
    image, _ = inputs
    tracks = json.dumps([[{"x": 10, "y": 10}, {"x": 30, "y": 20}], [{"x": 50, "y": 50}, {"x": 60, "y": 40}]])
    drags, *_ = PuppetMasterDrags.execute(image, DRAGS, 14, tracks=tracks)
    assert len(drags.document.drags) == 2 and drags.document.drags[0].points[0] == (10.0, 10.0)


def test_core_tracks_replace_the_editor_drags_with_their_timing(inputs):
    """WanMove TRACKS: (frames, tracks, 2) pixel positions; a one-frame track is a zero-length drag."""
    image, _ = inputs
    path = torch.zeros(3, 2, 2)
    path[:, 0] = torch.tensor([[10.0, 10.0], [11.0, 10.0], [40.0, 30.0]])  # slow, then fast
    path[:, 1] = torch.tensor([50.0, 50.0])
    core = {"track_path": path, "track_visibility": torch.ones(3, 2, dtype=torch.bool)}
    drags, _, tracks, start_points = PuppetMasterDrags.execute(image, DRAGS, 5, core_tracks=core)
    assert json.loads(start_points) == [{"x": 10, "y": 10}, {"x": 50, "y": 50}]  # a held point prompts too
    assert len(drags.document.drags) == 2
    assert torch.allclose(tracks["track_path"][2, 0], torch.tensor([11.0, 10.0]))  # the middle frame keeps its time
    assert torch.equal(tracks["track_path"][:, 1], torch.tensor([[50.0, 50.0]] * 5))
    still = {"track_path": torch.tensor([[[30.0, 20.0]]]), "track_visibility": torch.ones(1, 1, dtype=torch.bool)}
    held, *_ = PuppetMasterDrags.execute(image, DRAGS, 4, core_tracks=still)
    assert held.document.drags[0].points[0] == held.document.drags[0].points[-1] == (30.0, 20.0)
    with pytest.raises(ValueError, match="not both"):
        PuppetMasterDrags.execute(image, DRAGS, 4, tracks='[[{"x": 1, "y": 2}]]', core_tracks=still)
    with pytest.raises(ValueError, match="core_tracks must be TRACKS"):
        PuppetMasterDrags.execute(image, DRAGS, 4, core_tracks={"track_path": torch.zeros(3, 2)})


def test_a_one_point_track_string_is_a_zero_length_drag(inputs):
    image, _ = inputs
    spline = json.dumps([[{"x": 20, "y": 30}], [{"x": 5, "y": 6}, {"x": 9, "y": 6}]])
    drags, *_ = PuppetMasterDrags.execute(image, DRAGS, 4, tracks=spline)
    assert drags.document.drags[0].points == ((20.0, 30.0), (20.0, 30.0))
    assert drags.tracks()[0].tolist() == [[20.0, 30.0]] * 4


def test_encoder_sources_must_be_exactly_one(models, inputs):
    image, _ = inputs
    (encoders,) = PuppetMasterSVDEncoders.execute("svd_tiny")
    drags, *_ = PuppetMasterDrags.execute(image, DRAGS, 4)
    args = (None, image, drags, 0, 1, 1.0, 1.0, 4, 4, "official")  # checked before the model is used
    with pytest.raises(ValueError, match="'encoders' is not connected"):
        PuppetMasterSampler.execute(*args)
    with pytest.raises(ValueError, match="'vae' is not connected"):
        PuppetMasterSampler.execute(*args, clip_vision=object())
    with pytest.raises(ValueError, match="not both"):
        PuppetMasterSampler.execute(*args, encoders=encoders, vae=object())


def test_bad_inputs_give_clear_errors(models, inputs):
    image, mask = inputs
    with pytest.raises(FileNotFoundError, match="not in models/puppet_master"):
        PuppetMasterLoader.execute("missing.safetensors", "auto")
    config = tiny_unet_config()
    stock = UNetSpatioTemporalConditionModel(**{k: config[k] for k in SVD_ARCHITECTURE_KEYS if k != "sample_size"})
    stock.save_pretrained(models / "svd_unet")
    shutil.copy(
        models / "svd_unet" / "diffusion_pytorch_model.safetensors", models / "puppet_master" / "svd.safetensors"
    )
    with pytest.raises(CheckpointError, match="stock Stable Video Diffusion UNet"):
        PuppetMasterLoader.execute("svd.safetensors", "auto")
    six = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[5, 5], [9, 9]]}] * 6}
    with pytest.raises(DragDocumentError, match="at most 5"):
        PuppetMasterDrags.execute(image, json.dumps(six), 14)
    drags, *_ = PuppetMasterDrags.execute(image, DRAGS, 14)
    with pytest.raises(ValueError, match="mask is 10x10 but the image is 96x80"):
        PuppetMasterPrepareImage.execute(image, drags, 2.2, 64, torch.ones(1, 10, 10))
    cropped, prepared, crop = PuppetMasterPrepareImage.execute(image, drags, 2.2, 64, mask)
    with pytest.raises(ValueError, match="connect the image given to Prepare Image"):
        PuppetMasterPasteBack.execute(cropped, crop, cropped)
    (encoders,) = PuppetMasterSVDEncoders.execute("svd_tiny")
    with pytest.raises(ValueError, match="connect the image output of Puppet-Master Prepare Image"):
        PuppetMasterConditioning.execute(image, prepared, "official", encoders=encoders)
    with pytest.raises(ValueError, match="14 on the Puppet-Master Drags node"):
        PuppetMasterSampler.execute(None, cropped, prepared, 0, 1, 1.0, 1.0, 4, 4, "official", encoders=encoders)
    with pytest.raises(ValueError, match="weight_dtype must be one of"):
        PuppetMasterLoader.execute("tiny.safetensors", "int4")
    with pytest.raises(ValueError, match="must be a ComfyUI IMAGE"):
        PuppetMasterDrags.execute(image[0], DRAGS, 14)


def test_models_reach_modelpatcher_inside_a_plain_container(tiny_unet):
    """ComfyUI's ModelPatcher assigns `model.device` when it moves a model; diffusers makes that a read-only
    property, so the UNet (and the diffusers/transformers SVD encoders) go to it inside PatcherHeld."""
    from nodes.comfy_env import PatcherHeld

    with pytest.raises(AttributeError):
        tiny_unet.device = torch.device("cpu")
    held = PatcherHeld(tiny_unet)
    held.device = torch.device("meta")
    assert held.module is tiny_unet and tiny_unet.device == torch.device("cpu")
    assert set(held.state_dict()) == {f"module.{key}" for key in tiny_unet.state_dict()}
