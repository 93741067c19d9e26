"""`python -m puppet_master info|selfcheck` through a real subprocess and through main()."""

import subprocess
import sys

from conftest import REPO
from puppet_master.cli import main
from puppet_master.loading import save_unet


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "puppet_master", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


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


def test_selfcheck_passes():
    result = run_cli("selfcheck", "--frames", "8", "--steps", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selfcheck passed" in result.stdout and "cached == uncached: True" in result.stdout
