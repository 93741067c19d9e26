"""The drag editor in the newest frontend on PyPI (comfyui-frontend-package, pinned in requirements-dev.txt),
served by a real ComfyUI with `--front-end-root <package>/static` (the `newest_frontend_server` fixture of
tests/e2e/conftest.py), as users who update the frontend run it: the same browser tests as in the frontend
the server pins (tests/e2e/test_comfyui_server.py), the page checked to report the package's version."""

from __future__ import annotations

from importlib import metadata

FRONTEND_PACKAGE = "comfyui-frontend-package"


def test_drag_editor_in_the_newest_frontend(newest_frontend_server):
    version = metadata.version(FRONTEND_PACKAGE)
    pinned = newest_frontend_server.get("/system_stats")["system"]["required_frontend_version"]
    assert version != pinned, f"{FRONTEND_PACKAGE} {version} is the frontend ComfyUI pins: nothing newer is tested"
    output = newest_frontend_server.run_browser_test("comfyui.test.mjs", frontend_version=version)
    assert "# skipped 0" in output, output[-2000:]
