"""The library's warnings reach the person at the browser, not only the server console: a real server sends
them over its websocket to the client that queued the prompt, on the toast channel of the wrong-loader message
(nodes/toasts.py; tests/js/comfyui.test.mjs sees one as a toast in the real frontend)."""

from __future__ import annotations

import json

from nodes.toasts import EVENT
from support import tiny_prompt

DRAWN_ON_A_SQUARE = {"version": 1, "width": 512, "height": 512, "drags": [{"points": [[256, 300], [256, 200]]}]}


def drags_only(document: dict) -> dict:
    """LoadImage (example.png, 96 x 80) -> Puppet-Master Drags -> PreviewImage of its preview. (13 frames: no
    other test queues this node, so ComfyUI's cache of an earlier prompt cannot spare it the run.)"""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {
            "class_type": "PuppetMasterDrags",
            "inputs": {"image": ["1", 0], "drags": json.dumps(document), "frames": 13},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 1]}},
    }


def test_drags_stretched_onto_an_image_of_another_shape_are_told_to_the_browser(server):
    log_start = len(server.log_text())
    prompt_id, events = server.queue_and_listen(drags_only(DRAWN_ON_A_SQUARE), EVENT)
    assert server.wait(prompt_id)["status"]["status_str"] == "success"
    expected = (
        "node 2: the drags were drawn on a 512x512 image but the image is 96x80: they are stretched unevenly (x by "
        "0.188, y by 0.156); redraw them on this image if they no longer point at the right parts"
    )
    assert events == [{"node": "2", "message": expected}]
    server.wait_for_log(expected.removeprefix("node 2: "), after=log_start)  # the console keeps it too


def test_a_video_without_drags_is_told_to_the_browser(server):
    prompt = tiny_prompt("puppet_master_basic", steps=1)
    drags = next(node_id for node_id, node in prompt.items() if node["class_type"] == "PuppetMasterDrags")
    sampler = next(node_id for node_id, node in prompt.items() if node["class_type"] == "PuppetMasterSampler")
    prompt[drags]["inputs"]["drags"] = json.dumps({**DRAWN_ON_A_SQUARE, "drags": []})
    for node_id in (drags, sampler):
        prompt[node_id]["inputs"]["frames"] = 4
    prompt[sampler]["inputs"]["decode_chunk_size"] = 4
    prompt_id, events = server.queue_and_listen(prompt, EVENT)
    assert server.wait(prompt_id)["status"]["status_str"] == "success"
    assert [event["node"] for event in events] == [sampler]
    assert events[0]["message"].startswith(f"node {sampler}: no drags: the video is generated without any drag")


def test_drags_drawn_on_this_image_are_not_toasted(server):
    on_this_image = {**DRAWN_ON_A_SQUARE, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [40, 15]]}]}
    prompt_id, events = server.queue_and_listen(drags_only(on_this_image), EVENT)
    assert server.wait(prompt_id)["status"]["status_str"] == "success" and events == []
