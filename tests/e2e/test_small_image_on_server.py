"""A 1x1 image on a REAL ComfyUI server (the `server` fixture of tests/e2e/conftest.py): refused by the node that
crops it, with the library's message naming the image's size and the fix; never a crash, never a video.

The image comes from a 1x1 PNG loaded by core's LoadImage, or from core's EmptyImage at 1x1 (an image made in
the graph, as ImageFromBatch or a crop node can make one)."""

from __future__ import annotations

from PIL import Image

from support import tiny_prompt

ONE_PIXEL = (
    "image is 1x1 pixels, smaller than the 16x16 minimum: give the picture to animate (at least 16 px wide and high), "
    "not a placeholder"
)
EMPTY_IMAGE = {"class_type": "EmptyImage", "inputs": {"width": 1, "height": 1, "batch_size": 1, "color": 0x808080}}


def node_id(prompt: dict, class_type: str) -> str:
    return next(key for key, node in prompt.items() if node["class_type"] == class_type)


def refusal(server, prompt: dict) -> dict:
    """The execution error of a prompt that must fail (not refused at queue time: the size is known only when it
    runs), checking that it saved no video (the Drags node's preview of the drags may be shown)."""
    entry = server.run(prompt, timeout=300)
    assert entry["status"]["status_str"] == "error", entry["status"]
    saved = node_id(prompt, "SaveAnimatedWEBP")
    assert saved not in entry.get("outputs", {}), f"a 1x1 image gave a video: {entry['outputs'][saved]}"
    messages = dict(entry["status"]["messages"])
    assert server.process.poll() is None, "the server died"
    return messages["execution_error"]


def one_pixel_file(server) -> str:
    Image.new("RGB", (1, 1), (128, 128, 128)).save(server.root / "input" / "one_pixel.png")
    return "one_pixel.png"


def test_a_loaded_one_pixel_image_is_refused_by_prepare_image(server):
    prompt = tiny_prompt("puppet_master_mask_paste_back", steps=1)
    prompt[node_id(prompt, "LoadImage")]["inputs"]["image"] = one_pixel_file(server)
    error = refusal(server, prompt)
    assert error["node_type"] == "PuppetMasterPrepareImage" and error["exception_message"].strip() == ONE_PIXEL, error


def test_a_one_pixel_image_without_prepare_image_is_refused_by_the_sampler(server):
    prompt = tiny_prompt("puppet_master_basic", steps=1)
    prompt[node_id(prompt, "LoadImage")]["inputs"]["image"] = one_pixel_file(server)
    error = refusal(server, prompt)
    assert error["node_type"] == "PuppetMasterSampler" and error["exception_message"].strip() == ONE_PIXEL, error


def test_a_one_pixel_image_made_in_the_graph_is_refused(server):
    prompt = tiny_prompt("puppet_master_mask_paste_back", steps=1)
    prompt["99"] = EMPTY_IMAGE
    loaded = node_id(prompt, "LoadImage")
    for node in prompt.values():
        for name, value in list(node["inputs"].items()):
            if value == [loaded, 0]:
                node["inputs"][name] = ["99", 0]
            elif value == [loaded, 1]:  # the 96x80 image's mask: another size, refused for that first
                del node["inputs"][name]
    error = refusal(server, prompt)
    assert error["node_type"] == "PuppetMasterPrepareImage" and error["exception_message"].strip() == ONE_PIXEL, error


def test_paste_back_refuses_a_one_pixel_original(server):
    prompt = tiny_prompt("puppet_master_mask_paste_back", steps=1)
    prompt["99"] = EMPTY_IMAGE
    prompt[node_id(prompt, "PuppetMasterPasteBack")]["inputs"]["original"] = ["99", 0]
    error = refusal(server, prompt)
    assert error["node_type"] == "PuppetMasterPasteBack", error
    expected = "original is 1x1 but the crop was made from a 96x80 image: connect the image given to Prepare Image"
    assert expected in error["exception_message"], error
