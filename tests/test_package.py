"""The pack's skeleton: ComfyUI entry without ComfyUI, packaging metadata, library independence, the library's
face (the generation API at the top, imported lazily; diagnostics apart; no import circle)."""

import ast
import importlib.util
import json
import shutil
import subprocess
import sys

import pytest
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
    tree = ast.parse(path.read_text(encoding="utf-8"))
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
    requirements = [
        line.strip() for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["dependencies"] == requirements
    for requirement in requirements:
        name = requirement.split(">=")[0].lower()
        assert name not in {"torch", "torchvision", "torchaudio"}
        assert ">=" in requirement and "==" not in requirement and "<" not in requirement


def test_comfy_registry_metadata():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(project["project"]["license"], dict)
    assert {"PublisherId", "DisplayName", "Icon", "requires-comfyui"} <= set(project["tool"]["comfy"])
    assert not (REPO / "install.py").exists()


def test_packaged_tiny_config_is_the_official_one():
    assert tiny_unet_config() == json.loads(shared_path("fixtures/tiny_unet_config.json").read_text(encoding="utf-8"))


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme and "bash scripts/demo.sh" in readme
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_the_suite_runs_in_a_clone_whose_folder_name_is_not_a_python_identifier(tmp_path):
    """`ComfyUI-PuppetMaster` is the usual custom_nodes folder name; pytest must not import the root as a package."""
    clone = tmp_path / "ComfyUI-PuppetMaster"
    skipped = shutil.ignore_patterns(".git", ".venv", "node_modules", "outputs", "__pycache__", "*.egg-info")
    shutil.copytree(REPO, clone, ignore=skipped, symlinks=True)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_drags.py"],
        cwd=clone, capture_output=True, text=True, timeout=300, encoding="utf-8",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "error" not in summary, summary


API = (
    "PuppetMasterPipeline", "GenerationResult", "load_unet", "save_unet", "unet_from_svd", "CheckpointError",
    "PuppetMasterUNet", "SamplerSettings", "sample", "sample_video", "generate_frames", "GenerationCancelled",
    "load_svd_encoders", "parse_drag_document", "DragDocument", "DragDocumentError", "load_image", "load_mask",
    "object_crop", "paste_back", "CropTransform", "ImageInputError", "save_video",
)  # fmt: skip
"""The names the README's library section uses."""
IMPORTED = """
import sys
{code}
print(sorted(name for name in ("torch", "diffusers", "transformers") if name in sys.modules))
"""


def imports_after(code: str) -> list[str]:
    """Which of torch, diffusers, transformers a fresh interpreter has imported after running `code`."""
    result = subprocess.run([sys.executable, "-c", IMPORTED.format(code=code)], cwd=REPO, capture_output=True,
                            text=True, timeout=120, encoding="utf-8")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_the_top_level_offers_the_generation_api():
    import puppet_master

    assert puppet_master.__all__ == list(API)
    for name in API:
        value = getattr(puppet_master, name)
        assert value.__name__ == name and value.__module__.startswith("puppet_master."), name
    tree = ast.parse((REPO / "puppet_master" / "__init__.py").read_text(encoding="utf-8"))
    checked = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen_by_editors = {alias.name for node in checked.body for alias in node.names}
    assert seen_by_editors == set(API) == set(puppet_master._HOME)
    from puppet_master.sampling import GenerationCancelled

    assert puppet_master.GenerationCancelled is GenerationCancelled and "returns False" in GenerationCancelled.__doc__
    with pytest.raises(AttributeError, match="has no attribute 'selfcheck'"):
        puppet_master.selfcheck  # noqa: B018


HELP_RUN = """
import runpy
sys.argv = ["puppet_master", "--help"]
try:
    runpy.run_module("puppet_master", run_name="__main__")
except SystemExit:
    pass
"""
"""`python -m puppet_master --help`, the imports it made printed after it."""


def test_importing_the_package_or_asking_for_help_loads_no_torch():
    assert imports_after("import puppet_master") == []
    assert imports_after("from puppet_master import SamplerSettings") == []  # a torch-free module stays torch-free
    assert "torch" in imports_after("from puppet_master import PuppetMasterPipeline")  # the probe sees real imports
    assert imports_after(HELP_RUN) == []


def package_imports() -> dict[str, set[str]]:
    """Each module of puppet_master and the package modules it imports, lazily and for type checking included."""
    root = REPO / "puppet_master"
    graph = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                targets |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = targets
    return {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}


def test_no_module_of_the_library_imports_one_that_imports_it_back():
    graph = package_imports()
    circles = []
    for start in graph:
        waiting, seen = list(graph[start]), set()
        while waiting and start not in seen:
            step = waiting.pop()
            if step not in seen:
                seen.add(step)
                waiting.extend(graph[step])
        if start in seen:
            circles.append(start)
    assert not circles, f"modules on an import circle: {sorted(circles)}"
    assert {"puppet_master.diagnostics.bench", "puppet_master.diagnostics.selfcheck"} <= set(graph)
    generation = {name for name in graph if not name.startswith(("puppet_master.diagnostics", "puppet_master.cli"))}
    assert not [(name, sorted(graph[name])) for name in generation if any("diagnostics" in t for t in graph[name])]
