"""Run by ComfyUI's own Python inside its checkout (tests/e2e/test_sam3_start_points.py): core's SAM3 Detect, as
ComfyUI ships it, on our start_points strings, with a recorder where SAM3's network would be (its weights are
not here). Everything SAM3 Detect does before the network (json.loads of positive_coords, the "x"/"y" keys,
x / W and y / H of its image scaled to 1008, the labels) is core's code; the recorder keeps what reaches it.

stdin: {"image": PATH, "positive_coords": [TEXT, ...]}; stdout: one {"prompts", "mask_shape", "mask_sum"} each.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, ".")  # the ComfyUI checkout (the working directory)
from comfy.cli_args import args  # noqa: E402

args.cpu = True  # as the e2e server runs
import comfy.model_management  # noqa: E402
import comfy.model_patcher  # noqa: E402
from comfy_extras.nodes_sam3 import SAM3_Detect  # noqa: E402


class PointRecorder(torch.nn.Module):
    """Where SAM3's network would be: records the point prompts SAM3 Detect built, returns empty mask logits."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))  # something for ComfyUI's loader to place
        self.prompts: list[dict] = []

    @property
    def diffusion_model(self) -> PointRecorder:
        return self

    def get_dtype(self) -> torch.dtype:
        return torch.float32

    def forward_segment(self, frame, point_inputs=None, mask_inputs=None, box_inputs=None) -> torch.Tensor:
        if point_inputs is not None:
            self.prompts.append({key: value.tolist() for key, value in point_inputs.items()})
        return torch.zeros(1, 1, 288, 288)


def detect(image: torch.Tensor, positive_coords: str) -> dict:
    """Core's SAM3_Detect.execute on `image` prompted with `positive_coords`; what reached the network."""
    recorder = PointRecorder()
    device = comfy.model_management.get_torch_device()
    patcher = comfy.model_patcher.ModelPatcher(recorder, load_device=device, offload_device=torch.device("cpu"), size=4)
    masks, _ = SAM3_Detect.execute(model=patcher, image=image, positive_coords=positive_coords).args
    return {"prompts": recorder.prompts, "mask_shape": list(masks.shape), "mask_sum": float(masks.sum())}


def main() -> None:
    request = json.load(sys.stdin)
    with Image.open(request["image"]) as picture:  # as LoadImage gives it: RGB in 0..1, (1, H, W, 3)
        pixels = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255
    image = torch.from_numpy(pixels)[None]
    print(json.dumps([detect(image, coords) for coords in request["positive_coords"]]))


if __name__ == "__main__":
    main()
