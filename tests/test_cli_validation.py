"""`python -m puppet_master generate` refuses every bad input with a message naming it, before loading a model."""

import json
import math

import pytest
import torch

from puppet_master import cli
from puppet_master.diagnostics.selfcheck import DEMO_DRAGS, demo_image
from puppet_master.pipeline import PuppetMasterPipeline


@pytest.fixture
def files(tmp_path, tiny_unet_file, tiny_svd_folder, monkeypatch):
    image, mask = demo_image()
    image.save(tmp_path / "image.png")
    mask.save(tmp_path / "mask.png")
    (tmp_path / "drags.json").write_text(json.dumps(DEMO_DRAGS), encoding="utf-8")

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded although an input was bad")

    monkeypatch.setattr(PuppetMasterPipeline, "from_files", no_loading)
    return {"image": tmp_path / "image.png", "mask": tmp_path / "mask.png", "drags": tmp_path / "drags.json",
            "unet": tiny_unet_file, "svd": tiny_svd_folder, "out": tmp_path / "out.mp4", "root": tmp_path}  # fmt: skip


def run(files, capsys, *extra, **replace):
    paths = {key: str(replace.get(key, files[key])) for key in ("image", "mask", "drags", "unet", "svd", "out")}
    argv = ["generate", *[item for key, path in paths.items() for item in (f"--{key}", path)], "--device", "cpu"]
    code = cli.main([*argv, *extra])
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error, error
    return error


def write(files, name, content):
    path = files["root"] / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", str(2**70)], "--seed must be from 0 to 18446744073709551615"),
        (["--seed", "-1"], "--seed must be from 0"),
        (["--fps", "0"], "--fps must be a number above 0 and at most 240, got 0.0"),
        (["--fps", "nan"], "--fps must be a number above 0"),
        (["--scale", "1e9"], r"scale must be in \(0, 10\]"),
        (["--scale", "nan"], "scale must be a finite number"),
        (["--cfg", "nan"], "--cfg must be a finite number (official 5.0 and 1.0), got nan"),
        (["--cfg", "inf"], "--cfg must be a finite number"),
        (["--min-cfg", "nan"], "--min-cfg must be a finite number"),
        (["--cfg", "1000"], "--cfg must be between -100 and 100"),
        (["--frames", "1"], "--frames must be from 2 to 1024"),
        (["--frames", "100000"], "--frames must be from 2 to 1024"),
        (["--steps", "0"], "--steps must be from 1 to 1000"),
        (["--size", "100"], "--size must be a multiple of 8"),
        (["--decode-chunk-size", "0"], "--decode-chunk-size must be at least 1"),
        (["--device", "gpu"], "--device 'gpu' is not a device: use auto, cpu, cuda, cuda:N or mps"),
        (["--device", "meta"], "--device 'meta' is not supported"),
    ],
)
def test_bad_options_are_refused_before_loading(files, capsys, extra, message):
    assert message.replace("\\", "") in run(files, capsys, *extra) or pytest.fail(message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so(files, capsys):
    assert "CUDA is not available here" in run(files, capsys, "--device", "cuda")


@pytest.mark.parametrize(
    ("key", "content", "message"),
    [
        ("image", b"", "is empty (0 bytes)"),
        ("image", b"hello", "is not an image PIL can read"),
        ("mask", b"\x89PNG\r\n\x1a\n\x00\x00", "is not an image PIL can read"),
        ("drags", "", "the drag document is empty"),
        ("drags", "[" * 100_000, "nested too deeply"),
        ("drags", json.dumps({**DEMO_DRAGS, "width": math.inf}).replace("Infinity", "1e999"), '"width" must be'),
        ("drags", b"\xff\xfe", "cannot read the drag file"),
    ],
)
def test_bad_files_are_named(files, capsys, key, content, message):
    assert message in run(files, capsys, **{key: write(files, f"bad_{key}", content)})


def test_a_truncated_image_is_named(files, capsys):
    cut = write(files, "cut.png", files["image"].read_bytes()[:200])
    assert "is damaged or truncated" in run(files, capsys, image=cut)


def test_output_problems_are_found_before_the_run(files, capsys):
    root = files["root"]
    assert f"--out {root / 'out.avi'}: .avi is not a video format written here; end the file name in .mp4, .webp or " \
        f".gif, e.g. {root / 'out.mp4'}" in run(files, capsys, out=root / "out.avi")  # fmt: skip
    assert f"--out {root / 'clips'}: the name has no extension; end the file name in .mp4, .webp or .gif, e.g. " \
        f"{root / 'clips.mp4'}" in run(files, capsys, out=root / "clips")  # fmt: skip
    (root / "videos").mkdir()
    assert f"--out {root / 'videos'} is a folder: give a video file name in it, e.g. {root / 'videos' / 'video.mp4'}" \
        in run(files, capsys, out=root / "videos")  # fmt: skip
    blocker = write(files, "blocker", "")
    assert "is not a writable folder" in run(files, capsys, out=blocker / "out.mp4")


def test_a_missing_svd_folder_is_found_before_the_unet_loads(files, capsys):
    assert "SVD folder not found" in run(files, capsys, svd=files["root"] / "no_such_folder")


@pytest.mark.parametrize("svd", ["stable-video-diffusion-img2vid/", "./stable-video-diffusion-img2vid", "models/svd/"])
def test_a_missing_svd_folder_shaped_like_a_path_is_never_sent_to_the_hub(files, capsys, monkeypatch, svd):
    monkeypatch.chdir(files["root"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a hub lookup would be tried, and fail with HFValidationError
    error = run(files, capsys, svd=svd)
    assert f"SVD folder not found: {svd} (only an owner/name such as stabilityai/stable-video-diffusion-img2vid is " \
        "looked up on the Hugging Face hub): check the path." in error  # fmt: skip
    assert "Hugging Face hub (" not in error and "download" not in error and "HFValidationError" not in error


def test_an_svd_file_is_named_a_file_with_the_folder_it_should_be(files, capsys, tiny_unet_file):
    error = run(files, capsys, svd=tiny_unet_file)
    assert f"{tiny_unet_file} is a file, but the SVD encoders are a folder" in error
    assert "give the folder holding vae/, image_encoder/ and feature_extractor/" in error and "hub" not in error


def test_the_svd_folder_given_as_the_unet_is_named_with_the_flag_it_belongs_to(files, capsys):
    error = run(files, capsys, unet=files["svd"])
    assert f"{files['svd']} is an SVD img2vid encoder folder (vae/, image_encoder/, feature_extractor/), not a UNet: " \
        "it is the SVD encoders (the CLI's --svd" in error  # fmt: skip
    assert "no config.json" not in error
    error = run(files, capsys, unet=files["svd"] / "vae")
    assert f"{files['svd'] / 'vae'} is the Stable Video Diffusion VAE, a part of the SVD img2vid encoder" in error


def test_a_mask_of_another_size_is_found_before_loading(files, capsys):
    from PIL import Image

    Image.new("L", (10, 10), 255).save(files["root"] / "small_mask.png")
    assert "mask is 10x10 but the image is 96x80" in run(files, capsys, mask=files["root"] / "small_mask.png")


def test_a_frame_count_that_cannot_fit_is_refused_with_the_numbers(files, capsys):
    error = run(files, capsys, "--frames", "1024", "--size", "1024")
    assert "--frames 1024 at --size 1024 needs about" in error and "GiB available on cpu" in error


def test_encoders_not_on_disk_yet_are_counted_at_the_released_size():
    from puppet_master.budget import ENCODER_BYTES, weight_bytes
    from puppet_master.svd_folder import svd_encoder_parameters

    assert svd_encoder_parameters("stabilityai/stable-video-diffusion-img2vid") is None  # a hub id: not here yet
    assert weight_bytes(10, None, torch.device("cpu"), None) == 40 + ENCODER_BYTES
    assert weight_bytes(10, 1000, torch.device("cuda"), None) == 20 + 2000  # fp16 UNet and encoders on CUDA
