"""Command-line conventions: instant help and argument errors (no torch import), `info` from file headers alone,
defaults in --help and every option explained, the SVD hub download announced (what, where) and forbidden by
--offline, `info` on SVD img2vid encoder folders."""

import json
import shutil
import subprocess
import sys

import pytest
from huggingface_hub import constants

from puppet_master.cli import build_parser, main
from puppet_master.diagnostics.selfcheck import demo_image
from puppet_master.hub import SVD_REPO
from support import REPO

PROBE = """
import sys
from puppet_master.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    print("exit", done.code)
print("torch imported:", "torch" in sys.modules)
"""


def probe(*args: str) -> subprocess.CompletedProcess:
    """main(args) in a fresh interpreter, reporting whether it imported torch."""
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True, timeout=120, encoding="utf-8"
    )


def test_help_and_argument_errors_never_import_torch():
    for args, code in ((["--help"], 0), (["generate", "--help"], 0), (["generate", "--steps", "x"], 2), ([], 2)):
        result = probe(*args)
        assert f"exit {code}" in result.stdout, (args, result.stdout, result.stderr)
        assert "torch imported: False" in result.stdout, args


def test_the_probe_sees_torch_when_a_command_runs(tmp_path):
    missing = str(tmp_path / "missing")
    result = probe("generate", "--image", missing, "--drags", missing, "--unet", missing, "--out", f"{missing}.mp4")
    assert "torch imported: True" in result.stdout, result.stdout + result.stderr


def test_info_reads_headers_without_importing_torch(tiny_unet_file, tiny_svd_folder, tmp_path):
    for path in (tiny_unet_file, tiny_svd_folder, tmp_path / "missing.safetensors"):
        result = probe("info", str(path))
        assert "torch imported: False" in result.stdout, result.stdout + result.stderr
    assert "kind:       Puppet-Master UNet" in probe("info", str(tiny_unet_file)).stdout
    assert "weight file not found" in probe("info", str(tmp_path / "missing.safetensors")).stderr


def test_help_shows_defaults_and_the_hub_download(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no words broken across lines
    for command in ("generate", "bench", "selfcheck"):
        try:
            main([command, "--help"])
        except SystemExit:
            pass
    text = " ".join(capsys.readouterr().out.split())
    for default in ("denoising steps (default: 50)", "(default: 5.0)", "(default: 14)", "(default: auto)",
                    "(default: outputs/selfcheck.mp4)", "(default: fp32)", "noise seed (default: 0)"):  # fmt: skip
        assert default in text, default
    assert f"(default: {SVD_REPO})" in text and "downloaded into the hub cache" in text and "--offline" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_help_is_complete(capsys, monkeypatch):
    """Every option of every command is explained in its --help; the top-level help says how to get there."""
    monkeypatch.setenv("COLUMNS", "1000")
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings} has no help text"
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        for action in command._actions:
            assert all(flag in text for flag in action.option_strings), (name, action.option_strings)
    generate_help = " ".join(commands["generate"].format_help().split())
    assert "--offline never download: --svd must be a local folder" in generate_help
    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert all(name in top for name in commands)
    assert "Each command has its own options: python -m puppet_master COMMAND --help" in top
    assert "torch and the models" not in top  # the module's notes for developers are not the user's help


def inputs(tmp_path):
    image, _ = demo_image()
    image.save(tmp_path / "image.png")
    (tmp_path / "drags.json").write_text(
        json.dumps({"version": 1, "width": 96, "height": 80, "drags": []}), encoding="utf-8"
    )
    return ["--image", str(tmp_path / "image.png"), "--drags", str(tmp_path / "drags.json")]


def test_offline_refuses_a_hub_id_before_loading_anything(tiny_unet_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored afterwards: --offline sets it for the rest of the process
    code = main(["generate", *inputs(tmp_path), "--unet", str(tiny_unet_file),
                 "--out", str(tmp_path / "x.mp4"), "--offline"])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2
    assert f"--svd {SVD_REPO} is not a local folder and --offline forbids downloading it" in error
    assert "Traceback" not in error and not (tmp_path / "x.mp4").exists()


def test_a_hub_id_is_announced_with_what_and_where(tiny_unet_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is unreachable here: the download itself fails cleanly
    code = main(["generate", *inputs(tmp_path), "--unet", str(tiny_unet_file), "--out", str(tmp_path / "x.mp4"),
                 "--device", "cpu"])  # fmt: skip
    error = capsys.readouterr().err
    assert f"SVD encoders: vae/*, image_encoder/*, feature_extractor/*, model_index.json of {SVD_REPO}" in error
    assert f"into {constants.HF_HUB_CACHE}" in error
    assert code == 2 and "hub is offline" in error


def test_a_local_folder_is_used_silently(tiny_unet_file, tiny_svd_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    code = main(["generate", *inputs(tmp_path), "--unet", str(tiny_unet_file), "--svd", str(tiny_svd_folder),
                 "--out", str(tmp_path / "x.gif"), "--steps", "1", "--size", "64", "--device", "cpu",
                 "--offline"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "Hugging Face hub" not in capsys.readouterr().err


def test_info_describes_an_svd_encoder_folder_part_by_part(tiny_svd_folder, tmp_path, capsys):
    assert main(["info", str(tiny_svd_folder)]) == 0
    out = capsys.readouterr().out
    assert "vae/" in out and "Stable Video Diffusion VAE (temporal decoder)" in out
    assert "image_encoder/" in out and "CLIP image encoder with projection" in out
    assert out.rstrip().endswith("SVD img2vid encoders (--svd, ComfyUI models/diffusers): complete")
    assert main(["info", str(tiny_svd_folder / "vae")]) == 0
    assert "Stable Video Diffusion VAE" in capsys.readouterr().out

    incomplete = shutil.copytree(tiny_svd_folder, tmp_path / "svd")
    shutil.rmtree(incomplete / "feature_extractor")
    assert main(["info", str(incomplete)]) == 0
    assert "lacks feature_extractor/preprocessor_config.json" in capsys.readouterr().out


def test_only_owner_slash_name_that_is_no_local_path_is_a_hub_id(tmp_path, monkeypatch):
    from pathlib import Path

    from puppet_master.hub import is_hub_id

    monkeypatch.chdir(tmp_path)
    assert is_hub_id(SVD_REPO) and is_hub_id("owner/name.v2")
    for path in ("stable-video-diffusion-img2vid/", "./svd", "/svd/x", "svd", "a/b/c", "C:\\svd", "~/svd", "a//b", ""):
        assert not is_hub_id(path), path
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert not is_hub_id("owner/name") and not is_hub_id(Path(SVD_REPO))  # a local folder, or a Path: never the hub
