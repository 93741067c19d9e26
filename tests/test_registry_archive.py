"""What the Comfy Registry gets: the `[tool.comfy]` metadata and the archive (git-tracked files minus
`.comfyignore`, as `comfy node pack` builds it), which must hold no dev tooling and no eval/exec/subprocess/pip."""

import ast
import re
import shutil
import subprocess
import sys

import pytest
import tomllib

from support import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
COMFY = PYPROJECT["tool"]["comfy"]
MODEL_FOLDERS = {"puppet_master", "checkpoints", "diffusers"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"subprocess", "pip", "multiprocessing", "pty"}
PIP_INSTALL = re.compile(r"\bpip install\b")
FORBIDDEN_ATTRIBUTES = {"system", "popen", "spawnv", "spawnl", "execv", "execvp", "startfile"}


def git(*args: str) -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the archive is made from git-tracked files: needs git and a checkout")
    result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True, encoding="utf-8")
    return result.stdout.splitlines()


def archive_files() -> list[str]:
    """The files `comfy node pack` puts in the archive: tracked, not matched by .comfyignore."""
    tracked = git("ls-files", "--cached")
    ignored = set(git("ls-files", "--cached", "--ignored", "--exclude-from=.comfyignore"))
    return [name for name in tracked if name not in ignored and (REPO / name).is_file()]


def test_registry_metadata_is_complete():
    assert COMFY["PublisherId"] and COMFY["DisplayName"] == "Puppet-Master"
    assert re.fullmatch(r"https://\S+\.png", COMFY["Icon"])
    assert re.fullmatch(r">=\d+\.\d+\.\d+", COMFY["requires-comfyui"])
    urls = PYPROJECT["project"]["urls"]
    assert urls["Repository"].startswith("https://github.com/")
    assert urls["Documentation"].startswith(urls["Repository"]) and urls["Issues"].startswith(urls["Repository"])
    assert PYPROJECT["project"]["version"] and PYPROJECT["project"]["license"] == {"file": "LICENSE"}


def test_models_name_the_weights_and_their_sources():
    models = COMFY["Models"]
    for model in models:
        assert set(model) == {"location", "model_url"}
        assert model["location"].split("/")[1] in MODEL_FOLDERS, model
        assert model["model_url"].startswith("https://huggingface.co/"), model
        assert model["model_url"].rsplit("/", 1)[1] == model["location"].rsplit("/", 1)[1], model
    by_location = {model["location"]: model["model_url"] for model in models}
    assert "spaces/rayli/Puppet-Master" in by_location["/puppet_master/model.safetensors"]
    assert "stabilityai/stable-video-diffusion-img2vid" in by_location["/checkpoints/svd.safetensors"]
    diffusers = {location.split("/", 3)[3] for location in by_location if location.startswith("/diffusers/")}
    assert {"vae/config.json", "image_encoder/config.json", "feature_extractor/preprocessor_config.json"} <= diffusers


def test_archive_keeps_the_pack_and_leaves_out_dev_tooling():
    files = archive_files()
    for needed in ("__init__.py", "pyproject.toml", "LICENSE", "nodes/__init__.py", "puppet_master/cli.py"):
        assert needed in files
    for workflow in [name for name in files if name.startswith("example_workflows/") and name.count("/") == 1]:
        if workflow.endswith(".json"):
            assert workflow.replace(".json", ".jpg") in files, (
                f"{workflow} has no thumbnail: COMFYUI_URL=<a running ComfyUI with this pack> node "
                "tests/js/capture_thumbnails.mjs writes one for every example workflow"
            )
    for shipped in ("locales/en/main.json", "locales/zh/main.json", "web/docs/PuppetMasterSampler.md"):
        assert shipped in files
    for left_out in ("tests/", "training/", "scripts/", ".ci/", "docs/"):
        assert not [name for name in files if name.startswith(left_out)], left_out
    assert "requirements-dev.txt" not in files and "conftest.py" not in files


def forbidden_uses(path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{node.func.id}() line {node.lineno}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"import {name} line {node.lineno}" for name in names if name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f".{node.attr} line {node.lineno}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and PIP_INSTALL.search(node.value):
            found.append(f"'pip install' string line {node.lineno}")
    return found


def test_shipped_python_has_no_eval_exec_subprocess_or_pip():
    shipped = [REPO / name for name in archive_files() if name.endswith(".py")]
    assert len(shipped) > 20
    offences = {str(path.relative_to(REPO)): found for path in shipped if (found := forbidden_uses(path))}
    assert offences == {}


def test_the_checker_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import subprocess\nimport os\nos.system('x')\neval('1')\nHELP = 'run pip install foo'\n", encoding="utf-8"
    )
    assert len(forbidden_uses(sample)) == 4


def test_comfy_node_validate_security_rules_pass_on_the_archive():
    """The ruff rules `comfy node validate` runs (exec, eval, one-line statements), as errors, on the archive."""
    shipped = [name for name in archive_files() if name.endswith(".py")]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "S102,S307,E702", *shipped],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stdout + result.stderr
