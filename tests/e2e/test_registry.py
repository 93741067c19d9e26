"""What the real ComfyUI makes of the pack's registry and UX files: the example workflows in its template
listing (with thumbnails), the help pages and locales it serves, the node descriptions and tooltips in
/object_info, its own pyproject parser on our [tool.comfy], and (tests/js/registry.test.mjs) the frontend
showing all of them."""

import json
import os
import subprocess
import urllib.request

import pytest

from nodes import NODES_BY_ID
from support import REPO

EXAMPLES = REPO / "example_workflows"
TEMPLATES = sorted(path.stem for path in EXAMPLES.glob("*.json"))


def pack_folder(server) -> str:
    """The pack's folder name under custom_nodes (ComfyUI names its templates, docs and extension by it)."""
    return next((server.root / "custom_nodes").iterdir()).name


def fetch(server, path: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        return response.read(), response.headers.get("Content-Type", "")


def test_the_template_listing_holds_the_example_workflows(server):
    listing = server.get("/api/workflow_templates")
    assert sorted(listing[pack_folder(server)]) == TEMPLATES  # the API twins in api/ are not templates
    for name in TEMPLATES:
        body, _ = fetch(server, f"/api/workflow_templates/{pack_folder(server)}/{name}.json")
        assert json.loads(body) == json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        thumbnail, kind = fetch(server, f"/api/workflow_templates/{pack_folder(server)}/{name}.jpg")
        assert kind == "image/jpeg" and thumbnail == (EXAMPLES / f"{name}.jpg").read_bytes()


def test_help_pages_are_served_where_the_frontend_looks(server):
    """The frontend fetches docs/<Node>/<locale>.md first, then docs/<Node>.md."""
    for node in NODES_BY_ID:
        for page in (f"{node}.md", f"{node}/zh.md"):
            body, _ = fetch(server, f"/extensions/{pack_folder(server)}/docs/{page}")
            assert body == (REPO / "web" / "docs" / page).read_bytes(), page


def test_both_locales_reach_the_frontend(server):
    translations = server.get("/i18n")
    for lang in ("en", "zh"):
        ours = json.loads((REPO / "locales" / lang / "main.json").read_text(encoding="utf-8"))
        served = translations[lang]["nodeDefs"]
        for node in NODES_BY_ID:
            assert served[node] == ours["nodeDefs"][node], (lang, node)


def test_object_info_carries_descriptions_tooltips_and_search_aliases(server):
    info = server.get("/object_info")
    for node, cls in NODES_BY_ID.items():
        assert info[node]["description"] == cls.DESCRIPTION
        assert info[node]["output_tooltips"] == list(cls.OUTPUT_TOOLTIPS)
        assert {"drag", "trajectory", "motion", "puppet", "part motion"} <= set(info[node]["search_aliases"])
        for name, spec in info[node]["input"]["required"].items():
            assert spec[1]["tooltip"], (node, name)


def test_comfyuis_own_parser_reads_our_registry_metadata():
    """ComfyUI's comfy_config (the Registry's schema) on pyproject.toml, and our requires-comfyui against it."""
    comfyui = os.environ.get("COMFYUI_PATH")
    if not comfyui:
        pytest.skip("set COMFYUI_PATH (eval \"$(bash ../shared/comfyui/setup.sh requirements.txt)\")")
    script = (
        "import json, sys\n"
        "from comfy_config import config_parser\n"
        "from comfyui_version import __version__\n"
        "config = config_parser.extract_node_configuration(sys.argv[1])\n"
        "print(json.dumps({'version': __version__, 'requires': config.project.supported_comfyui_version,\n"
        "    'publisher': config.tool_comfy.publisher_id, 'icon': config.tool_comfy.icon,\n"
        "    'models': [model.location for model in config.tool_comfy.models],\n"
        "    'urls': config.project.urls.model_dump()}))\n"
    )
    result = subprocess.run(
        [os.environ.get("COMFYUI_PYTHON", "python"), "-c", script, str(REPO)],
        cwd=comfyui, capture_output=True, text=True, timeout=120, encoding="utf-8",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["publisher"] and parsed["icon"].endswith(".png")
    assert "/puppet_master/model.safetensors" in parsed["models"] and "/checkpoints/svd.safetensors" in parsed["models"]
    assert parsed["urls"]["repository"] and parsed["urls"]["documentation"]
    required = tuple(int(part) for part in parsed["requires"].removeprefix(">=").split("."))
    running = tuple(int(part) for part in parsed["version"].split(".")[:3])
    assert required <= running, f"requires-comfyui {parsed['requires']} but the tested ComfyUI is {parsed['version']}"


def test_the_frontend_shows_help_pages_locales_and_templates(server):
    """tests/js/registry.test.mjs against this server: help page per node in the Info tab, Chinese names,
    the template browser with the thumbnails."""
    output = server.run_browser_test("registry.test.mjs")
    assert "# skipped 0" in output and "# pass 4" in output, output[-2000:]
