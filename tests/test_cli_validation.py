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
    (tmp_path / "drags.json").write_text(json.dumps(DEMO_DRAGS))

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
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", str(2**70)], "--seed must be from 0 to 18446744073709551615"),
        (["--seed", "-1"], "--seed must be from 0"),
        (["--fps", "0"], "fps must be a number above 0"),
        (["--fps", "nan"], "fps must be a number above 0"),
        (["--scale", "1e9"], r"scale must be in \(0, 10\]"),
        (["--scale", "nan"], "scale must be a finite number"),
        (["--cfg", "nan"], r"cfg \(max_guidance\) must be a finite number"),
        (["--cfg", "inf"], r"cfg \(max_guidance\) must be a finite number"),
        (["--min-cfg", "nan"], r"min_cfg \(min_guidance\) must be a finite number"),
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
    assert "unsupported output out.avi" in run(files, capsys, out=files["root"] / "out.avi")
    blocker = write(files, "blocker", "")
    assert "is not a writable folder" in run(files, capsys, out=blocker / "out.mp4")


def test_a_missing_svd_folder_is_found_before_the_unet_loads(files, capsys):
    assert "SVD folder not found" in run(files, capsys, svd=files["root"] / "no_such_folder")


def test_a_mask_of_another_size_is_found_before_loading(files, capsys):
    from PIL import Image

    Image.new("L", (10, 10), 255).save(files["root"] / "small_mask.png")
    assert "mask is 10x10 but the image is 96x80" in run(files, capsys, mask=files["root"] / "small_mask.png")


def test_a_frame_count_that_cannot_fit_is_refused_with_the_numbers(files, capsys):
    error = run(files, capsys, "--frames", "1024", "--size", "1024")
    assert "--frames 1024 at --size 1024 needs about" in error and "GiB available on cpu" in error
