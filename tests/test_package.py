"""The pack's skeleton: ComfyUI entry without ComfyUI, packaging metadata, library independence."""

import ast
import importlib.util
import json
import shutil
import subprocess
import sys

import tomllib

from puppet_master.diagnostics.selfcheck import tiny_unet_config
from support import REPO, shared_path


def test_comfyui_entry_imports_as_a_package_without_comfyui():
    spec = importlib.util.spec_from_file_location(
        "puppet_master_pack", REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    module = importlib.util.module_from_spec(spec)
    before = set(sys.modules)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name)
    assert callable(module.comfy_entrypoint) and not hasattr(module, "NODE_CLASS_MAPPINGS")
    assert (REPO / module.WEB_DIRECTORY).is_dir()
    assert not any(name.split(".")[0] in ("comfy", "comfy_api") for name in sys.modules if name not in before)


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_library_never_imports_comfyui():
    forbidden = {"comfy", "folder_paths", "nodes", "server", "execution"}
    for path in (REPO / "puppet_master").rglob("*.py"):
        for name in imported_modules(path):
            assert name.split(".")[0] not in forbidden, f"{path} imports {name}"


def test_requirements_match_pyproject_and_never_pin_torch():
    requirements = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines() if line.strip()]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == requirements
    for requirement in requirements:
        name = requirement.split(">=")[0].lower()
        assert name not in {"torch", "torchvision", "torchaudio"}
        assert ">=" in requirement and "==" not in requirement and "<" not in requirement


def test_comfy_registry_metadata():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], dict)
    assert {"PublisherId", "DisplayName", "Icon", "requires-comfyui"} <= set(project["tool"]["comfy"])
    assert not (REPO / "install.py").exists()


def test_packaged_tiny_config_is_the_official_one():
    assert tiny_unet_config() == json.loads(shared_path("fixtures/tiny_unet_config.json").read_text())


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/demo.sh" in readme
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_the_suite_runs_in_a_clone_whose_folder_name_is_not_a_python_identifier(tmp_path):
    """`ComfyUI-PuppetMaster` is the usual custom_nodes folder name; pytest must not import the root as a package."""
    clone = tmp_path / "ComfyUI-PuppetMaster"
    skipped = shutil.ignore_patterns(".git", ".venv", "node_modules", "outputs", "__pycache__", "*.egg-info")
    shutil.copytree(REPO, clone, ignore=skipped, symlinks=True)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_drags.py"],
        cwd=clone, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "error" not in summary, summary
