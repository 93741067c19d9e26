"""The real ComfyUI server shared by every test under tests/e2e (one per pytest session).

The server is started with this pack and tiny random weights in a temporary base folder (see
../shared/COMFYUI_E2E.md): `models/puppet_master/tiny.safetensors` (random, from the project's own tiny
config), `official_tiny.safetensors` (the official tiny fixture weights, when ../shared/fixtures is present),
`models/diffusers/svd_tiny` (a tiny SVD VAE + CLIP folder) and `input/example.png` (the demo image with
the object painted transparent, as ComfyUI's mask editor saves it). COMFYUI_PATH names the ComfyUI checkout,
COMFYUI_PYTHON the interpreter that has its requirements (default: this one).

In CI (CI=true with a ComfyUI beside the project), a real-server test that skips is reported as a failure:
the run must show that they ran. Elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from comfyui_server import COMFYUI, Server, fill_base_folder

from support import SHARED

COMFYUI_IN_SHARED = SHARED / "comfyui" / "setup.sh"
SKIP_REASON = (
    "set COMFYUI_PATH to a ComfyUI checkout to run the real-server tests: "
    'eval "$(bash ../shared/comfyui/setup.sh requirements.txt)"'
)


def real_server_required() -> bool:
    """True in CI with a ComfyUI beside the project: then a skipped real-server test is a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") and COMFYUI_IN_SHARED.is_file()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and real_server_required() and Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"real-server test skipped in CI (CI=true and {COMFYUI_IN_SHARED} exists): {reason}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_all_real_server_tests` run last (stable order otherwise)."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_real_server_tests") is not None)


def _unet_files(tiny_unet_file: Path, folder: Path) -> dict[str, Path]:
    """tiny.safetensors, and official_tiny.safetensors when ../shared/fixtures has the official tiny weights."""
    files = {"tiny.safetensors": tiny_unet_file}
    official = SHARED / "fixtures" / "tiny_unet_weights.safetensors"
    if official.is_file():
        from puppet_master.loading import load_unet, save_unet

        config = SHARED / "fixtures" / "tiny_unet_config.json"
        files["official_tiny.safetensors"] = save_unet(load_unet(official, config=config), folder / "official.sft")
    return files


@pytest.fixture(scope="session")
def server(tmp_path_factory, tiny_unet_file, tiny_svd_folder) -> Iterator[Server]:
    """One real ComfyUI server for the whole session (skips, saying how to enable it, without COMFYUI_PATH)."""
    if not COMFYUI:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("comfyui")
    fill_base_folder(root, _unet_files(tiny_unet_file, tmp_path_factory.mktemp("official")), tiny_svd_folder)
    running = Server(root)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def newest_frontend_server(tmp_path_factory, tiny_unet_file, tiny_svd_folder) -> Iterator[Server]:
    """A second real ComfyUI serving the newest frontend on PyPI (the comfyui-frontend-package of this Python,
    pinned in requirements-dev.txt) with --front-end-root, as users who update the frontend run it. One per
    module that asks for it, stopped when the module ends: a ComfyUI serves one frontend."""
    if not COMFYUI:
        pytest.skip(SKIP_REASON)
    import comfyui_frontend_package

    static = Path(comfyui_frontend_package.__file__).parent / "static"
    root = tmp_path_factory.mktemp("comfyui_newest_frontend")
    fill_base_folder(root, {"tiny.safetensors": tiny_unet_file}, tiny_svd_folder)
    running = Server(root, front_end_root=static)
    yield running
    running.stop()

