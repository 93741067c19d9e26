"""What saved workflows and API prompts depend on stays as it was when the nodes were V1, in a real ComfyUI.

`tests/data/object_info_v1.json` is the real server's /object_info for every node of the pack, taken from the
V1 nodes (classic INPUT_TYPES) before the move to V3 (`io.ComfyNode`). A saved UI workflow stores widget values
by position (the order of the widget inputs), an API prompt by input name, and links by output slot: so the
node IDs, input names, their order, types, defaults, limits and options, and the output types and names must
not change. Only fields that add information may appear (`advanced`, tooltips) or fields whose value is
ComfyUI's default (`deprecated: false`, ...), and outputs after the last one (every saved link keeps its
slot). A V3 combo is reported as `["COMBO", {"options": [...]}]` where V1 gave the list itself; the frontend
and the validator read both the same way.

`tests/data/previous_release/` is the example workflows of the previous release (commit 95bff57), UI graphs
and their API twins: every widget value of the UI graphs lands on the input its API twin names, by the
server's input order, and the API prompts that need no real SVD checkpoint run to the end on tiny weights.
(tests/js/comfyui.test.mjs also loads these UI graphs into the real frontend and compares the prompt it queues.)
"""

from __future__ import annotations

import json

import pytest

from nodes import NODES_BY_ID
from support import REPO, tiny_prompt

SNAPSHOT = REPO / "tests" / "data" / "object_info_v1.json"
PREVIOUS_RELEASE = REPO / "tests" / "data" / "previous_release"
MODEL_LISTS = {"unet_name", "svd_folder"}  # their options are the files in the user's model folders
ADDED_OPTIONS = {"advanced", "tooltip"}  # input options that only add information
OUTPUT_LISTS = {"output", "output_name", "output_is_list", "output_tooltips"}  # one entry per output, by slot
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
NEEDS_REAL_WEIGHTS = {"ImageOnlyCheckpointLoader"}  # svd.safetensors builds SVD's full-size UNet and ViT-H


def comparable_input(name: str, spec: list) -> tuple[str, dict]:
    """(type, options) with a V1 combo list written as V3 writes it, and V3's default-valued flags dropped."""
    kind, options = spec[0], dict(spec[1]) if len(spec) > 1 else {}
    if isinstance(kind, list):
        kind, options["options"] = "COMBO", kind
    for flag in ("multiselect", "multiline"):
        if options.get(flag) is False:
            del options[flag]
    if name in MODEL_LISTS:
        options.pop("options", None)
    return kind, options


def appended_to(before: object, after: object, key: str) -> bool:
    """Whether `after` is the output list `before` with outputs added at its end (saved links stay valid)."""
    return key in OUTPUT_LISTS and isinstance(after, list) and after[: len(before)] == before


def differences(node: str, before: dict, after: dict) -> list[str]:
    """Every change from the V1 entry `before` to `after` that a saved workflow or API prompt could notice."""
    found = []
    for key in sorted(set(before) | set(after)):
        if key == "input":
            continue
        if key not in before:
            if after[key]:
                found.append(f"{node}.{key}: added {after[key]!r}")
        elif before[key] != after.get(key) and not appended_to(before[key], after.get(key), key):
            found.append(f"{node}.{key}: {before[key]!r} -> {after.get(key)!r}")
    for section in ("required", "optional", "hidden"):
        old, new = before["input"].get(section, {}), after["input"].get(section, {})
        if list(old) != list(new):
            found.append(f"{node}.input.{section}: {list(old)} -> {list(new)}")
            continue
        for name in old:
            old_kind, old_options = comparable_input(name, old[name])
            new_kind, new_options = comparable_input(name, new[name])
            if old_kind != new_kind:
                found.append(f"{node}.{name}: type {old_kind} -> {new_kind}")
            for option in sorted(set(old_options) | set(new_options)):
                if old_options.get(option) != new_options.get(option) and not (
                    option not in old_options and option in ADDED_OPTIONS
                ):
                    found.append(f"{node}.{name}.{option}: {old_options.get(option)!r} -> {new_options.get(option)!r}")
    return found


def test_object_info_keeps_everything_saved_workflows_depend_on(server):
    info = server.get("/object_info")
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(snapshot) == sorted(NODES_BY_ID)
    found = [change for node, before in snapshot.items() for change in differences(node, before, info[node])]
    assert found == []


def test_the_comparison_notices_what_would_break_a_workflow():
    before = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["PuppetMasterSampler"]
    reordered = json.loads(json.dumps(before))
    required = reordered["input"]["required"]
    reordered["input"]["required"] = {"steps": required.pop("steps"), **required}
    renamed_output = {**before, "output_name": ["video"]}
    new_default = json.loads(json.dumps(before))
    new_default["input"]["required"]["cfg"][1]["default"] = 3.0
    tooltip_and_advanced = json.loads(json.dumps(before))
    tooltip_and_advanced["input"]["required"]["negative"][1]["advanced"] = True
    assert differences("S", before, reordered) and differences("S", before, renamed_output)
    assert differences("S", before, new_default) == ["S.cfg.default: 5.0 -> 3.0"]
    assert differences("S", before, tooltip_and_advanced) == []
    appended = {**before, "output": [*before["output"], "STRING"], "output_name": [*before["output_name"], "text"]}
    inserted = {**before, "output": ["STRING", *before["output"]], "output_name": ["text", *before["output_name"]]}
    assert differences("S", before, appended) == []
    assert differences("S", before, inserted) == [
        f"S.output: {before['output']!r} -> {inserted['output']!r}",
        f"S.output_name: {before['output_name']!r} -> {inserted['output_name']!r}",
    ]


def widget_names(spec: dict) -> list[str]:
    """The node's widget inputs in the order the frontend stores their values (a seed's control value after it)."""
    names = []
    for section in ("required", "optional"):
        for name in spec["input_order"].get(section, []):
            kind, options = comparable_input(name, spec["input"][section][name])
            if kind in WIDGET_TYPES and not options.get("forceInput"):
                names.append(name)
                if options.get("control_after_generate"):
                    names.append(f"{name} (control after generate)")
    return names


@pytest.mark.parametrize("path", sorted(PREVIOUS_RELEASE.glob("*.json")), ids=lambda path: path.stem)
def test_previous_release_widget_values_land_on_the_same_inputs(server, path):
    info = server.get("/object_info")
    api = json.loads((PREVIOUS_RELEASE / "api" / f"{path.stem}.api.json").read_text(encoding="utf-8"))
    checked = 0
    for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]:
        if node["type"] not in NODES_BY_ID:
            continue
        names = widget_names(info[node["type"]])
        assert len(names) == len(node["widgets_values"]), (node["type"], names, node["widgets_values"])
        queued = api[str(node["id"])]["inputs"]
        for name, value in zip(names, node["widgets_values"], strict=True):
            if name in queued and not isinstance(queued[name], list):
                assert queued[name] == value, f"{path.stem} node {node['id']} ({node['type']}): {name}"
                checked += 1
    assert checked >= 3


def runnable_previous_prompts() -> list[str]:
    return [
        path.name.removesuffix(".api.json")
        for path in sorted((PREVIOUS_RELEASE / "api").glob("*.api.json"))
        if not {node["class_type"] for node in json.loads(path.read_text(encoding="utf-8")).values()}
        & NEEDS_REAL_WEIGHTS
    ]


def test_both_tiny_weight_prompts_of_the_previous_release_are_run():
    assert runnable_previous_prompts() == ["puppet_master_basic", "puppet_master_mask_paste_back"]


@pytest.mark.parametrize("name", runnable_previous_prompts())
def test_previous_release_api_prompt_runs(server, name):
    result = server.run(tiny_prompt(name, steps=1, folder=PREVIOUS_RELEASE / "api"))
    assert result["status"]["status_str"] == "success", result["status"]
    saved = [image["filename"] for output in result["outputs"].values() for image in output.get("images", [])]
    assert any(name.endswith(".webp") for name in saved), result["outputs"]
