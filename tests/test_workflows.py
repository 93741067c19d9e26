"""Every example workflow (UI and API format), and those of the previous release, against the pack's
INPUT_TYPES, so shared workflows never rot.

Core ComfyUI nodes cannot be introspected without ComfyUI; their names, sockets and widget counts are
listed here from ComfyUI's node definitions (a real server's /object_info is the e2e check).
"""

import json

import pytest

from nodes import NODES_BY_ID
from support import REPO

EXAMPLES = REPO / "example_workflows"  # UI format (ComfyUI's template browser lists them); API twins in api/
PREVIOUS_RELEASE = REPO / "tests" / "data" / "previous_release"  # the same, as the previous release shipped them
WORKFLOWS = sorted(EXAMPLES.glob("*.json")) + sorted(PREVIOUS_RELEASE.glob("*.json"))
CORE_NODES = {  # type: (widget count in UI format, {output slot: type}, {socket input: type})
    "LoadImage": (2, {0: "IMAGE", 1: "MASK"}, {}),
    "SaveAnimatedWEBP": (5, {}, {"images": "IMAGE"}),
    "ImageOnlyCheckpointLoader": (1, {0: "MODEL", 1: "CLIP_VISION", 2: "VAE"}, {}),
    "VideoLinearCFGGuidance": (1, {0: "MODEL"}, {"model": "MODEL"}),
    "KSampler": (
        7,
        {0: "LATENT"},
        {"model": "MODEL", "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT"},
    ),
    "VAEDecode": (0, {0: "IMAGE"}, {"samples": "LATENT", "vae": "VAE"}),
    "CheckpointLoaderSimple": (1, {0: "MODEL", 1: "CLIP", 2: "VAE"}, {}),
    "SAM3_Detect": (
        3,
        {0: "MASK", 1: "BOUNDING_BOX"},
        {"model": "MODEL", "image": "IMAGE", "conditioning": "CONDITIONING", "bboxes": "BOUNDING_BOX",
         "positive_coords": "STRING", "negative_coords": "STRING"},
    ),  # fmt: skip
    "CreateVideo": (2, {0: "VIDEO"}, {"images": "IMAGE", "audio": "AUDIO"}),  # fps, bit_depth
    "SaveVideo": (4, {0: "VIDEO"}, {"video": "VIDEO"}),  # filename_prefix, format, format.codec, codec
}
FRONTEND_ONLY = {"MarkdownNote": 1}
"""Nodes the frontend keeps in the graph and never queues (a note): type -> widget count; no API twin."""
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
FILE_LISTS = {"unet_name", "svd_folder"}  # depend on the user's model folders


def widget_inputs(node_type):
    spec = NODES_BY_ID[node_type].INPUT_TYPES()
    items = {**spec["required"], **spec.get("optional", {})}
    return {
        name: value
        for name, value in items.items()
        if value[0] in WIDGET_TYPES and not (value[1:] and value[1].get("forceInput"))
    }


def socket_inputs(node_type):
    spec = NODES_BY_ID[node_type].INPUT_TYPES()
    items = {**spec["required"], **spec.get("optional", {})}
    return {name: value[0] for name, value in items.items() if name not in widget_inputs(node_type)}


def check_widget(node_type, name, value):
    declared = widget_inputs(node_type)[name]
    kind, options = declared[0], (declared[1] if declared[1:] else {})
    if kind == "COMBO":  # V3 combos: ("COMBO", {"options": [...]})
        assert name in FILE_LISTS or value in options["options"], (node_type, name, value)
        assert isinstance(value, str)
    elif kind == "INT":
        assert isinstance(value, int) and options.get("min", value) <= value <= options.get("max", value)
    elif kind == "FLOAT":
        assert isinstance(value, int | float) and options.get("min", value) <= value <= options.get("max", value)
    elif kind == "STRING":
        assert isinstance(value, str)
    if name == "drags":
        from puppet_master.drags import parse_drag_document

        parse_drag_document(value)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_ui_workflow_matches_the_nodes(path):
    workflow = json.loads(path.read_text(encoding="utf-8"))
    nodes = {node["id"]: node for node in workflow["nodes"]}
    for node in nodes.values():
        node_type = node["type"]
        assert node_type in NODES_BY_ID or node_type in CORE_NODES or node_type in FRONTEND_ONLY, node_type
        if node_type in CORE_NODES or node_type in FRONTEND_ONLY:
            count = CORE_NODES[node_type][0] if node_type in CORE_NODES else FRONTEND_ONLY[node_type]
            assert len(node["widgets_values"]) == count, node_type
            continue
        widgets = list(widget_inputs(node_type))
        values = list(node["widgets_values"])
        for name in widgets:
            check_widget(node_type, name, values.pop(0))
            if widget_inputs(node_type)[name][1:] and widget_inputs(node_type)[name][1].get("control_after_generate"):
                assert values.pop(0) in ("fixed", "increment", "decrement", "randomize")
        assert values == [], (node_type, values)
        sockets = socket_inputs(node_type)
        assert {i["name"]: i["type"] for i in node["inputs"]} == sockets, node_type
        required = NODES_BY_ID[node_type].INPUT_TYPES()["required"]
        assert all(i["link"] is not None for i in node["inputs"] if i["name"] in required), node_type
    for link_id, source, slot, target, target_slot, link_type in workflow["links"]:
        output = nodes[source]["outputs"][slot]
        assert output["type"] == link_type and link_id in output["links"]
        socket = nodes[target]["inputs"][target_slot]
        assert socket["link"] == link_id and socket["type"] == link_type
    assert workflow["last_link_id"] == max(link[0] for link in workflow["links"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_api_workflow_is_the_same_graph(path):
    ui = json.loads(path.read_text(encoding="utf-8"))
    api = json.loads((path.parent / "api" / f"{path.stem}.api.json").read_text(encoding="utf-8"))
    queued = {n["id"]: n["type"] for n in ui["nodes"] if n["type"] not in FRONTEND_ONLY}
    assert {int(k): v["class_type"] for k, v in api.items()} == queued
    ui_links = {
        (source, slot, target, ui_nodes_input(ui, target, target_slot))
        for _, source, slot, target, target_slot, _ in ui["links"]
    }
    api_links = set()
    for node_id, node in api.items():
        node_type = node["class_type"]
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                api_links.add((int(value[0]), value[1], int(node_id), name))
            elif node_type in NODES_BY_ID:
                check_widget(node_type, name, value)
        if node_type in NODES_BY_ID:
            declared = {**NODES_BY_ID[node_type].INPUT_TYPES()["required"]}
            assert set(declared) <= set(node["inputs"]), (node_type, set(declared) - set(node["inputs"]))
    assert api_links == ui_links


def ui_nodes_input(ui, node_id, slot):
    return next(n for n in ui["nodes"] if n["id"] == node_id)["inputs"][slot]["name"]


def test_the_documented_workflows_exist():
    names = {p.stem for p in EXAMPLES.glob("*.json")}
    assert names == {
        "puppet_master_native",
        "puppet_master_basic",
        "puppet_master_mask_paste_back",
        "puppet_master_svd_checkpoint",
        "puppet_master_sam3",
    }
    native = json.loads((EXAMPLES / "puppet_master_native.json").read_text(encoding="utf-8"))
    assert {"ImageOnlyCheckpointLoader", "PuppetMasterConditioning", "KSampler"} <= {n["type"] for n in native["nodes"]}
    assert "PuppetMasterSampler" not in {n["type"] for n in native["nodes"]}
    svd = json.loads((EXAMPLES / "puppet_master_svd_checkpoint.json").read_text(encoding="utf-8"))
    assert "PuppetMasterSVDEncoders" not in {n["type"] for n in svd["nodes"]}


def test_the_sam3_template_is_the_official_demos_flow():
    """LoadImage -> Drags -> SAM3 Detect (prompted by the drags' start points) -> Prepare Image's mask ->
    Conditioning -> KSampler -> VAEDecode -> CreateVideo -> SaveVideo (mp4), with a note on Remove Background."""
    api = json.loads((EXAMPLES / "api" / "puppet_master_sam3.api.json").read_text(encoding="utf-8"))
    by_type = {node["class_type"]: (node_id, node["inputs"]) for node_id, node in api.items()}
    drags, _ = by_type["PuppetMasterDrags"]
    detect, detect_inputs = by_type["SAM3_Detect"]
    start_points = list(NODES_BY_ID["PuppetMasterDrags"].RETURN_NAMES).index("start_points")
    assert detect_inputs["positive_coords"] == [drags, start_points]
    assert detect_inputs["image"] == by_type["PuppetMasterDrags"][1]["image"]  # the image the points are pixels of
    assert by_type[api[detect_inputs["model"][0]]["class_type"]][1]["ckpt_name"].startswith("sam3")
    prepare, prepare_inputs = by_type["PuppetMasterPrepareImage"]
    assert prepare_inputs["mask"] == [detect, 0] and prepare_inputs["drags"] == [drags, 0]
    assert by_type["PuppetMasterConditioning"][1]["image"] == [prepare, 0]
    assert by_type["KSampler"][1]["positive"] == [by_type["PuppetMasterConditioning"][0], 0]
    assert by_type["CreateVideo"][1]["images"] == [by_type["VAEDecode"][0], 0]
    saver = by_type["SaveVideo"][1]
    assert saver["format"] == "mp4" and saver["video"] == [by_type["CreateVideo"][0], 0]
    ui = json.loads((EXAMPLES / "puppet_master_sam3.json").read_text(encoding="utf-8"))
    [note] = [node["widgets_values"][0] for node in ui["nodes"] if node["type"] == "MarkdownNote"]
    assert "Remove Background" in note and "start_points" in note
