"""Prepare Image, Conditioning and Paste Back use the library's one crop: the official demo's frame and drag
tensor through the nodes (as ComfyUI calls them, the IMAGE and MASK as LoadImage gives them), and the same
refusal of a degenerate image."""

import json

import numpy as np
import pytest
import torch

from nodes.conditioning import PuppetMasterConditioning
from nodes.crop_nodes import PuppetMasterPasteBack, PuppetMasterPrepareImage
from nodes.drag_nodes import PuppetMasterDrags
from nodes.native_model import DRAGS_KEY
from puppet_master.diagnostics.selfcheck import demo_image
from puppet_master.encoders import load_svd_encoders
from puppet_master.image import ImageInputError
from puppet_master.video import from_pil
from support import OFFICIAL_PREPROCESS_CASES, clicks_document, official_preprocess_case

FRAMES = 14
ONE_PIXEL = (
    "image is 1x1 pixels, smaller than the 16x16 minimum: give the picture to animate (at least 16 px wide and high), "
    "not a placeholder"
)


@pytest.fixture(scope="module")
def encoders(tiny_svd_folder):
    return load_svd_encoders(tiny_svd_folder)


def node_drags(image: torch.Tensor, document: dict):
    drags, *_ = PuppetMasterDrags.execute(image, json.dumps(document), FRAMES)
    return drags


@pytest.mark.parametrize("name", OFFICIAL_PREPROCESS_CASES)
def test_prepare_image_and_conditioning_give_the_demos_frame_and_drags(name, encoders):
    case = official_preprocess_case(name)
    height, width = case["mask"].shape
    image = torch.from_numpy(case["image"].astype(np.float32) / 255)[None]
    mask = torch.from_numpy(case["mask"].astype(np.float32))[None]
    drags = node_drags(image, clicks_document(case["clicks"], width, height))
    cropped, prepared, crop = PuppetMasterPrepareImage.execute(image, drags, 2.2, 256, mask)
    assert [crop.left, crop.top, crop.side] == case["window_left_top_side"]
    assert np.abs(np.rint(cropped[0].numpy() * 255) - case["crop"]).max() == 0
    positive, _, _ = PuppetMasterConditioning.execute(cropped, prepared, "official", encoders=encoders)
    model_drags = positive[0][1][DRAGS_KEY].numpy()
    assert model_drags.shape == (FRAMES, 5, 4) and np.abs(model_drags - case["drags"]).max() <= 1e-6


def test_a_one_pixel_image_is_refused_by_prepare_image_and_conditioning(encoders):
    image = torch.full((1, 1, 1, 3), 0.5)
    drags = node_drags(image, {"version": 1, "width": 1, "height": 1, "drags": [{"points": [[0.5, 0.5], [1, 1]]}]})
    with pytest.raises(ImageInputError) as prepare:
        PuppetMasterPrepareImage.execute(image, drags, 2.2, 256, torch.ones(1, 1, 1))
    with pytest.raises(ImageInputError) as conditioning:
        PuppetMasterConditioning.execute(image, drags, "official", encoders=encoders)
    assert str(prepare.value) == str(conditioning.value) == ONE_PIXEL


def test_paste_back_refuses_a_one_pixel_original():
    demo, mask = demo_image()
    image = from_pil([demo])
    drags = node_drags(image, {"version": 1, "width": 96, "height": 80, "drags": [{"points": [[45, 25], [45, 10]]}]})
    cropped, _, crop = PuppetMasterPrepareImage.execute(image, drags, 2.2, 64, from_pil([mask.convert("RGB")])[..., 0])
    with pytest.raises(ValueError, match="original is 1x1 but the crop was made from a 96x80 image: connect the image"):
        PuppetMasterPasteBack.execute(cropped.repeat(4, 1, 1, 1), crop, torch.full((1, 1, 1, 3), 0.5))
