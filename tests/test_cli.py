"""`python -m puppet_master info|generate|selfcheck` through a real subprocess and through main(): what a user
sees on the console (one line per error, nothing from third-party libraries), Ctrl-C, files written."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import av
import pytest
from PIL import Image

from puppet_master.budget import readable_bytes
from puppet_master.checkpoint import inspect_checkpoint
from puppet_master.cli import INTERRUPTED, main
from puppet_master.diagnostics.selfcheck import demo_image, offline_generate_command
from puppet_master.loading import save_unet
from support import REPO

WITHOUT_ACCELERATE = (
    "import runpy, sys\n"
    "sys.modules['accelerate'] = None  # absent, as after `pip install -r requirements.txt` (it is not listed)\n"
    "runpy.run_module('puppet_master', run_name='__main__', alter_sys=True)\n"
)
"""`python -m puppet_master` as a user without accelerate runs it (diffusers then warns unless told)."""
THIRD_PARTY_NOISE = ("accelerate", "CLIPImageProcessor", "torchvision", "Writing model shards", "Loading weights")


def run_python(*args, cwd=REPO):
    """`python ARGS` with this checkout's library first on the path, whatever the working folder."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300
    )


def run_cli(*args, cwd=REPO):
    return run_python("-m", "puppet_master", *args, cwd=cwd)


def run_as_a_user(*args, cwd=REPO):
    """`python -m puppet_master ARGS` without accelerate installed."""
    return run_python("-c", WITHOUT_ACCELERATE, *args, cwd=cwd)


def console_lines(text: str) -> list[str]:
    """What a terminal shows, one entry per line or progress-bar redraw."""
    return [line for line in re.split(r"[\r\n]+", text) if line.strip()]


def default_sigint() -> None:
    """In the child: SIGINT as a terminal delivers it, even when this test runs where it is ignored (a shell's
    background job), so Python turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def user_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def test_info_describes_a_puppet_master_file(tiny_unet, tmp_path):
    path = save_unet(tiny_unet, tmp_path / "pm.safetensors")
    result = run_cli("info", str(path))
    assert result.returncode == 0, result.stderr
    assert "Puppet-Master UNet" in result.stdout and "F32 x1660" in result.stdout


def test_info_on_a_wrong_file_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is not a model file at all", encoding="utf-8")
    assert main(["info", str(path)]) == 2
    error = capsys.readouterr().err
    assert "not a safetensors file" in error and "Traceback" not in error


def test_generate_writes_a_video_at_the_original_resolution(tiny_unet_file, tiny_svd_folder, tmp_path):
    image, mask = demo_image()
    image.save(tmp_path / "image.png")
    mask.save(tmp_path / "mask.png")
    drags = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [40, 15], [45, 10]]}]}
    (tmp_path / "drags.json").write_text(json.dumps(drags), encoding="utf-8")
    out = tmp_path / "video.mp4"
    result = run_cli(
        "generate", "--image", str(tmp_path / "image.png"), "--mask", str(tmp_path / "mask.png"),
        "--drags", str(tmp_path / "drags.json"), "--unet", str(tiny_unet_file), "--svd", str(tiny_svd_folder),
        "--out", str(out), "--steps", "2", "--size", "64", "--device", "cpu", "--draw-drags",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "denoising" in result.stderr and "14 frames, 96x80" in result.stdout
    with av.open(str(out)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 14 and decoded[0].shape == (80, 96, 3)


def test_generate_with_bad_drags_says_why(tiny_unet_file, tiny_svd_folder, tmp_path):
    image, _ = demo_image()
    image.save(tmp_path / "image.png")
    (tmp_path / "drags.json").write_text(json.dumps([[{"x": 1, "y": 1}, {"x": 500, "y": 1}]]), encoding="utf-8")
    result = run_cli(
        "generate", "--image", str(tmp_path / "image.png"), "--drags", str(tmp_path / "drags.json"),
        "--unet", str(tiny_unet_file), "--svd", str(tiny_svd_folder), "--out", str(tmp_path / "x.mp4"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "drag 1 point 2 (500, 1) is outside the 96x80 image" in result.stderr and "Traceback" not in result.stderr


def test_selfcheck_passes_and_writes_its_video(tmp_path):
    out = tmp_path / "selfcheck.gif"
    result = run_cli("selfcheck", "--frames", "8", "--steps", "2", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selfcheck passed" in result.stdout and "cached drag context == uncached: True" in result.stdout
    with Image.open(out) as video:
        assert video.n_frames == 8 and video.size == (96, 80)


def test_the_readmes_offline_generate_command_runs_on_what_the_main_job_leaves(tmp_path):
    """`bash scripts/demo.sh` runs `selfcheck` (outputs/ in the project root); the README's command uses its files.
    Both runs, as a user without accelerate has them, print nothing but the library's own lines."""
    selfcheck = run_as_a_user("selfcheck", "--frames", "8", "--steps", "2", cwd=tmp_path)
    assert selfcheck.returncode == 0, selfcheck.stdout + selfcheck.stderr
    assert selfcheck.stderr == "" and selfcheck.stdout.rstrip().endswith("selfcheck passed")
    outputs = tmp_path / "outputs"
    if os.name == "posix":  # what we write gets the user's permissions, as any new file
        for path in (outputs / "tiny_puppet_master.safetensors", *sorted((outputs / "svd_tiny").glob("*/*"))):
            assert path.stat().st_mode & 0o777 == 0o666 & ~user_umask(), path

    command = offline_generate_command()
    assert command in (REPO / "README.md").read_text(encoding="utf-8"), "README.md must show the command exactly"
    result = run_as_a_user(*command.split()[3:], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    with av.open(str(outputs / "demo.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 14
    assert result.stdout == "wrote outputs/demo.mp4 (14 frames, 96x80)\n"
    lines = console_lines(result.stderr)
    assert not [line for line in lines if any(noise in line for noise in THIRD_PARTY_NOISE)], result.stderr
    weights = 4 * sum(
        inspect_checkpoint(path).num_parameters
        for path in (outputs / "tiny_puppet_master.safetensors", outputs / "svd_tiny" / "vae",
                     outputs / "svd_tiny" / "image_encoder")
    )  # fmt: skip
    assert lines[0].startswith("14 frames at 64 px: about ") and readable_bytes(weights).endswith(" MiB")
    assert f"({readable_bytes(weights)} of weights, " in lines[0]  # the files given, not the released encoders
    assert lines[1] == "loading outputs/tiny_puppet_master.safetensors and the SVD encoders of outputs/svd_tiny on cpu"
    assert all(line.startswith("denoising: ") for line in lines[2:]) and "3/3" in lines[-1], lines


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no SIGINT to send one process (Ctrl-C goes to a "
                    "whole console group): there Python raises the same KeyboardInterrupt, caught the same way")
def test_ctrl_c_during_generation_says_where_in_one_line(tiny_unet_file, tiny_svd_folder, tmp_path):
    image, _ = demo_image()
    image.save(tmp_path / "image.png")
    (tmp_path / "drags.json").write_text(json.dumps({"version": 1, "width": 96, "height": 80, "drags": []}),
                                         encoding="utf-8")  # fmt: skip
    out = tmp_path / "never.mp4"
    command = ["-m", "puppet_master", "generate", "--image", str(tmp_path / "image.png"), "--drags",
               str(tmp_path / "drags.json"), "--unet", str(tiny_unet_file), "--svd", str(tiny_svd_folder),
               "--out", str(out), "--steps", "1000", "--size", "64", "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, *command], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=default_sigint)  # fmt: skip
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(process.stderr.fileno(), 4096), b"")))
    reader.start()
    deadline = time.monotonic() + 240
    try:
        while not re.search(rb"\| *[1-9]\d*/1000 \[", b"".join(chunks)):  # a step done: sampling is under way
            assert process.poll() is None and time.monotonic() < deadline, b"".join(chunks).decode()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
    finally:
        process.kill()
        reader.join()
    error = b"".join(chunks).decode()
    assert process.returncode == INTERRUPTED == 130, error
    last = console_lines(error)[-1]
    assert re.fullmatch(r"interrupted at step \d+ of 1000 \(nothing written\)", last), error
    assert "Traceback" not in error and "KeyboardInterrupt" not in error and not out.exists()
