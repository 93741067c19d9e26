"""`python -m puppet_master info|selfcheck` through a real subprocess and through main()."""

import json
import os
import subprocess
import sys

import av
from PIL import Image

from puppet_master.cli import main
from puppet_master.diagnostics.selfcheck import demo_image, offline_generate_command
from puppet_master.loading import save_unet
from support import REPO


def run_python(*args, cwd=REPO):
    """`python ARGS` with this checkout's library first on the path, whatever the working folder."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_cli(*args, cwd=REPO):
    return run_python("-m", "puppet_master", *args, cwd=cwd)


def test_info_describes_a_puppet_master_file(tiny_unet, tmp_path):
    path = save_unet(tiny_unet, tmp_path / "pm.safetensors")
    result = run_cli("info", str(path))
    assert result.returncode == 0, result.stderr
    assert "Puppet-Master UNet" in result.stdout and "F32 x1660" in result.stdout


def test_info_on_a_wrong_file_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is not a model file at all")
    assert main(["info", str(path)]) == 2
    error = capsys.readouterr().err
    assert "not a safetensors file" in error and "Traceback" not in error


def test_generate_writes_a_video_at_the_original_resolution(tiny_unet_file, tiny_svd_folder, tmp_path):
    image, mask = demo_image()
    image.save(tmp_path / "image.png")
    mask.save(tmp_path / "mask.png")
    drags = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [40, 15], [45, 10]]}]}
    (tmp_path / "drags.json").write_text(json.dumps(drags))
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
    (tmp_path / "drags.json").write_text(json.dumps([[{"x": 1, "y": 1}, {"x": 500, "y": 1}]]))
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
    """`bash scripts/demo.sh` runs `selfcheck` (outputs/ in the project root); the README's command uses its files."""
    assert run_cli("selfcheck", "--frames", "8", "--steps", "2", cwd=tmp_path).returncode == 0
    command = offline_generate_command()
    assert command in (REPO / "README.md").read_text(), "README.md must show the offline generate command exactly"
    result = run_python(*command.split()[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    with av.open(str(tmp_path / "outputs" / "demo.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 14
