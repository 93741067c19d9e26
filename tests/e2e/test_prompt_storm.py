"""A storm of malformed prompts against a REAL ComfyUI server (the `server` fixture of tests/e2e/conftest.py).

Every prompt is a mutation of the mask + paste-back example workflow: bad numbers (NaN, infinity, huge, wrong
type) in each of our nodes' widgets, bad drag documents, names that leave the model folders, broken links.
Each one must be answered with a clear error: refused at queue time (HTTP 400 with a JSON body naming the
node and input) or, if it validated, ended as an execution error with a message, never a crashed server or
an HTTP 500 with an empty body. (A body whose "prompt" is not an object fails in ComfyUI's own handler with
HTTP 500 before any node is involved: those are sent too, and the server must survive them.) The server
must then still run a good prompt.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
import uuid

import pytest

from support import REPO, tiny_prompt

NAN, INF = float("nan"), float("inf")
BAD_NUMBERS = [NAN, INF, -INF, 10**400, 10**30, -(10**30), "seven", "", None, [], {}, [1, 2, 3]]
# nodes (by class) and their widgets whose values the prompts corrupt
WIDGETS = {
    "PuppetMasterSampler": ["seed", "steps", "cfg", "min_cfg", "frames", "decode_chunk_size"],
    "PuppetMasterDrags": ["frames"],
    "PuppetMasterPrepareImage": ["scale", "size"],
}
DOCUMENT = {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [40, 15]]}]}
BAD_DOCUMENTS = [
    "", "   ", "{", "[" * 100_000, "{}", "null", "42", '"text"', "[[]]", '{"version": 2}',
    json.dumps({**DOCUMENT, "width": 10**400}), json.dumps({**DOCUMENT, "width": 1e9}),
    '{"version": 1, "width": NaN, "height": 80, "drags": []}', '{"version": 1, "width": 96, "height": Infinity}',
    json.dumps({**DOCUMENT, "drags": [{"points": [[10**400, 1], [2, 2]]}]}),
    json.dumps({**DOCUMENT, "drags": [{"points": [[1, 1], [2, 2]]}] * 6}),
    json.dumps({**DOCUMENT, "drags": [{"points": [[500, 1], [2, 2]]}]}),
    json.dumps({**DOCUMENT, "drags": [{"points": [[1, 1]]}]}),
    json.dumps({**DOCUMENT, "drags": [{"points": [[1, 1], [2, 2]], "times": [1, 0]}]}),
    json.dumps({**DOCUMENT, "drags": [{"points": [[0, 0], [2, 2]]}]}),
    json.dumps({**DOCUMENT, "drags": "all of them"}),
    '[[{"x": 1}, {"x": 2}]]', "1" * 5000, "\x00\x01", json.dumps({**DOCUMENT, "drags": [[[[[[1]]]]]]}),
    '[[{"x": NaN, "y": 1}, {"x": 2, "y": 2}]]', '[[{"x": 1, "y": 1}, {"x": 1e999, "y": 2}]]',
    json.dumps({**DOCUMENT, "drags": [{"points": [[1, 1], [2, 2]], "times": [0, float("nan")]}]}),
    json.dumps({**DOCUMENT, "drags": [{"points": [[1, 1], [2, 2]], "times": "soon"}]}),
    json.dumps({**DOCUMENT, "version": "1"}), json.dumps({**DOCUMENT, "height": -80}), "[[1, 2], [3]]",
    json.dumps({**DOCUMENT, "version": True}),
]  # fmt: skip
BAD_NAMES = ["/etc/passwd", "../../etc/passwd", "..", "", "nope.safetensors", 5, None, ["1", 0], "a" * 5000]


def load_workflow() -> dict:
    """The mask + paste-back example on the tiny weights, 1 step, 4 frames."""
    prompt = tiny_prompt("puppet_master_mask_paste_back", steps=1)
    for node in prompt.values():
        inputs = node["inputs"]
        if isinstance(inputs.get("frames"), int):  # a widget (Draw Drags' "frames" is a link)
            inputs["frames"] = 4
        if "decode_chunk_size" in inputs:
            inputs["decode_chunk_size"] = 4
    return prompt


def node_id(prompt: dict, class_type: str) -> str:
    return next(key for key, node in prompt.items() if node["class_type"] == class_type)


def malformed_prompts() -> list[tuple[str, object, str | None]]:
    """(name, prompt body, id of the node that is wrong) triples: at least 200 ways to get a prompt wrong."""
    base = load_workflow()
    cases: list[tuple[str, object, str | None]] = []

    def mutated(name: str, class_type: str, field: str, value: object) -> None:
        prompt = copy.deepcopy(base)
        target = node_id(prompt, class_type)
        prompt[target]["inputs"][field] = value
        cases.append((f"{class_type}.{field}={str(value)[:30]!r}", prompt, target))

    for class_type, fields in WIDGETS.items():
        for field in fields:
            for value in BAD_NUMBERS:
                mutated(field, class_type, field, value)
    out_of_range = [("seed", 2**70), ("seed", -1), ("steps", 0), ("frames", 1), ("cfg", 0.5), ("cfg", 21.0),
                    ("min_cfg", -1.0), ("decode_chunk_size", 0), ("negative", "bogus"), ("negative", 5)]  # fmt: skip
    for field, value in out_of_range:
        mutated(field, "PuppetMasterSampler", field, value)
    for value in [0.0, -2.2, 6.0]:
        mutated("scale", "PuppetMasterPrepareImage", "scale", value)
    for value in [8, 7, 100_000]:
        mutated("size", "PuppetMasterPrepareImage", "size", value)
    for document in BAD_DOCUMENTS:
        mutated("drags", "PuppetMasterDrags", "drags", document)
    for value in [None, 42, 1.5, [], {}]:
        mutated("drags", "PuppetMasterDrags", "drags", value)
    for value in BAD_NAMES:
        mutated("unet_name", "PuppetMasterLoader", "unet_name", value)
        mutated("svd_folder", "PuppetMasterSVDEncoders", "svd_folder", value)
    for value in ["fp8", None, 3]:
        mutated("weight_dtype", "PuppetMasterLoader", "weight_dtype", value)
    for value in ["missing.png", "../../../etc/passwd", None]:
        mutated("image", "LoadImage", "image", value)
    sampler = node_id(base, "PuppetMasterSampler")
    for field, link in [("drags", [node_id(base, "LoadImage"), 0]), ("model", [node_id(base, "LoadImage"), 0]),
                        ("image", ["999", 0]), ("image", [node_id(base, "LoadImage"), 7]), ("image", ["1"]),
                        ("encoders", [sampler, 0])]:  # fmt: skip
        mutated(field, "PuppetMasterSampler", field, link)
    for field in ("model", "image", "drags", "seed", "cfg"):
        prompt = copy.deepcopy(base)
        del prompt[sampler]["inputs"][field]
        cases.append((f"sampler without {field}", prompt, sampler))
    prompt = copy.deepcopy(base)
    del prompt[sampler]["inputs"]["encoders"]
    cases.append(("sampler without encoders or clip_vision + vae", prompt, sampler))
    prompt = copy.deepcopy(base)
    prompt[sampler]["inputs"]["clip_vision"] = [node_id(base, "PuppetMasterSVDEncoders"), 0]
    cases.append(("encoders and clip_vision both connected", prompt, sampler))
    prompt = copy.deepcopy(base)
    paste_back = node_id(base, "PuppetMasterPasteBack")
    prompt[paste_back]["inputs"]["original"] = [node_id(base, "PuppetMasterPrepareImage"), 0]
    cases.append(("paste back onto the crop instead of the original", prompt, paste_back))
    drags_only = {key: node for key, node in base.items() if node["class_type"] == "PuppetMasterDrags"}
    cases += [("empty prompt", {}, None), ("unknown class", {"1": {"class_type": "NoSuchNode", "inputs": {}}}, None),
              ("no outputs", drags_only, None)]  # fmt: skip
    return cases


CORE_CASES = [("prompt is a list", ["a"]), ("prompt is a number", 5), ("prompt is a string", "prompt")]
"""Bodies ComfyUI's own /prompt handler fails on (HTTP 500) before any node of ours is involved."""


def post_prompt(server, prompt: object) -> tuple[int, str]:
    """POST /prompt; the HTTP status and body, whatever they are."""
    data = json.dumps({"prompt": prompt, "client_id": str(uuid.uuid4())}).encode()
    request = urllib.request.Request(server.url + "/prompt", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def answer(server, prompt: object) -> tuple[bool, str, set[str]]:
    """(clear, what the user is shown, ids of the nodes blamed) for `prompt`: a refusal with a JSON error naming
    the problem, or a run that ended in an execution error with a message. Not clear: an empty or non-JSON
    error body, a success."""
    status, body = post_prompt(server, prompt)
    if status != 200:
        try:
            payload = json.loads(body)
        except ValueError:
            return False, f"HTTP {status} with a body that is not JSON: {body[:200]!r}", set()
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        details = [error.get("message", ""), error.get("details", "")] if isinstance(error, dict) else [str(error)]
        for node in payload.get("node_errors", {}).values():
            details += [f"{e.get('message', '')}: {e.get('details', '')}" for e in node.get("errors", [])]
        text = " | ".join(part for part in details if part)
        return bool(text), f"HTTP {status}: {text[:300]}", set(payload.get("node_errors", {}))
    entry = server.wait(json.loads(body)["prompt_id"], timeout=300)
    messages = {kind: data for kind, data in entry["status"]["messages"]}
    if entry["status"]["status_str"] != "error":
        return False, f"the malformed prompt succeeded: {entry['status']}", set()
    failure = messages.get("execution_error", {})
    message = str(failure.get("exception_message", "")).strip()
    text = f"ran, {failure.get('node_type')}: {failure.get('exception_type')}: {message[:300]}"
    return bool(message) and "Traceback" not in message, text, {str(failure.get("node_id"))}


def test_a_storm_of_malformed_prompts_gets_clear_errors_and_the_server_survives(server):
    cases = malformed_prompts()
    assert len(cases) >= 200
    answers, unclear = [], []
    good = server.run(load_workflow())
    assert good["status"]["status_str"] == "success", f"the unmutated prompt must run: {good['status']}"
    for name, prompt, target in cases:
        assert server.process.poll() is None, f"the server died before {name}"
        clear, text, blamed = answer(server, prompt)
        clear = clear and (target is None or target in blamed)  # the error is about the node that is wrong
        answers.append(f"{'ok ' if clear else 'BAD'} {name} -> {text}")
        if not clear:
            unclear.append(answers[-1])
    for name, prompt in CORE_CASES:  # not ours to answer better; the server must survive them
        status, _ = post_prompt(server, prompt)
        answers.append(f"core {name} -> HTTP {status}")
    report = REPO / "outputs" / "prompt_storm.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text("\n".join(answers) + "\n", encoding="utf-8")
    print(f"{len(cases)} malformed prompts answered ({len(unclear)} unclearly); see {report}")
    assert server.process.poll() is None, "the server died during the storm"
    assert not unclear, "\n".join(unclear)
    good = server.run(load_workflow())
    assert good["status"]["status_str"] == "success", good["status"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("cfg", NAN, "cfg must be a finite number"), ("min_cfg", INF, "min_cfg must be a finite number")],
)
def test_non_finite_guidance_is_refused_at_queue_time_naming_the_input(server, field, value, expected):
    prompt = load_workflow()
    prompt[node_id(prompt, "PuppetMasterSampler")]["inputs"][field] = value
    status, body = post_prompt(server, prompt)
    assert status == 400 and expected in body, body


def test_a_broken_drag_document_is_refused_at_queue_time(server):
    prompt = load_workflow()
    prompt[node_id(prompt, "PuppetMasterDrags")]["inputs"]["drags"] = '{"version": 1, "width": NaN}'
    status, body = post_prompt(server, prompt)
    assert status == 400 and '\\"width\\" must be a whole number of pixels' in body, body


def queue_time_errors(server, prompt: dict, class_type: str) -> list[dict]:
    """The errors the server names for the node of `class_type` when it refuses `prompt` at queue time."""
    status, body = post_prompt(server, prompt)
    assert status == 400, body
    return json.loads(body)["node_errors"][node_id(prompt, class_type)]["errors"]


@pytest.mark.parametrize(
    ("class_type", "field", "value", "expected"),
    [
        ("PuppetMasterDrags", "drags", json.dumps({**DOCUMENT, "version": True}), '"version" must be 1, got true'),
        ("PuppetMasterDrags", "drags", '{"version": 1, "width": NaN}', '"width" must be a whole number of pixels'),
        ("PuppetMasterPrepareImage", "scale", NAN, "scale must be a finite number"),
    ],
)
def test_a_refused_widget_is_reported_once_on_the_input_at_fault(server, class_type, field, value, expected):
    """ComfyUI reports a node's refusal once per input its validate_inputs takes ("<input> - <message>"): the
    drags' problem is the drags input's alone, not also "frames - ...", nor the scale's "size - ..."."""
    prompt = load_workflow()
    prompt[node_id(prompt, class_type)]["inputs"][field] = value
    [error] = queue_time_errors(server, prompt, class_type)
    assert error["extra_info"]["input_name"] == field, error
    assert error["details"].startswith(f"{field} - ") and expected in error["details"], error
    assert f"{field}: " not in error["details"], f"the input is named once: {error['details']}"


def test_a_bad_frames_value_on_the_drags_node_is_named_frames(server):
    prompt = load_workflow()
    prompt[node_id(prompt, "PuppetMasterDrags")]["inputs"]["frames"] = 1
    [error] = queue_time_errors(server, prompt, "PuppetMasterDrags")
    assert error["extra_info"]["input_name"] == "frames" and "smaller than min of 2" in error["message"], error
