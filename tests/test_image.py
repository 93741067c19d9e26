"""Object-centric crop, square padding, drag remapping and paste-back onto the original canvas."""

import numpy as np
import pytest
import torch
from PIL import Image

from puppet_master.image import object_crop, paste_back
from puppet_master.selfcheck import demo_image


def as_array(image):
    return np.asarray(image, dtype=np.float32) / 255


def test_mask_crop_is_the_official_square_around_the_object():
    image, mask = demo_image()
    cropped, crop = object_crop(image, mask, scale=2.2, size=64)
    assert cropped.size == (64, 64)
    assert crop.side == int(39 * 2.2)  # box rows 22..60 and columns 30..60: larger side 39
    assert (crop.left + crop.side // 2, crop.top + crop.side // 2) == ((30 + 61) // 2, (22 + 61) // 2)
    centre = crop.to_crop(np.array([(30 + 61) / 2, (22 + 61) / 2]))
    assert np.allclose(centre, 32, atol=1)
    pixels = as_array(cropped)
    assert np.allclose(pixels[1, 1], 1.0)  # background composited to white
    assert pixels[32, 32, 0] > 0.6 and pixels[32, 32, 2] < 0.3  # the red box
    assert np.allclose(crop.to_original(crop.to_crop(np.array([[3.0, 4.0]]))), [[3.0, 4.0]])


def test_rgba_alpha_is_the_mask():
    image, mask = demo_image()
    rgba = image.copy()
    rgba.putalpha(mask)
    _, from_alpha = object_crop(rgba, size=64)
    _, from_mask = object_crop(image, mask, size=64)
    assert from_alpha == from_mask


def test_without_a_mask_the_image_is_padded_to_a_square_not_stretched():
    image = Image.new("RGB", (120, 60), (0, 0, 0))
    cropped, crop = object_crop(image, size=64)
    assert crop.side == 120 and (crop.left, crop.top) == (0, -30)
    pixels = as_array(cropped)
    assert np.allclose(pixels[2, 32], 1.0) and np.allclose(pixels[32, 32], 0.0)


def test_bad_masks_are_clear_errors():
    image, mask = demo_image()
    with pytest.raises(ValueError, match="mask is 10x10 but the image is 96x80"):
        object_crop(image, np.ones((10, 10)))
    with pytest.raises(ValueError, match="the mask is empty"):
        object_crop(image, np.zeros((80, 96)))
    with pytest.raises(ValueError, match="size at least 8"):
        object_crop(image, mask, size=4)


def test_paste_back_without_mask_restores_the_canvas():
    image = Image.fromarray((np.random.default_rng(0).random((60, 90, 3)) * 255).astype(np.uint8))
    cropped, crop = object_crop(image, size=96)
    frames = torch.from_numpy(as_array(cropped))[None].repeat(3, 1, 1, 1)
    restored = paste_back(frames, crop, image)
    assert restored.shape == (3, 60, 90, 3)
    assert np.abs(restored[0].numpy() - as_array(image)).mean() < 0.12


def test_paste_back_with_mask_keeps_the_background_and_shows_moved_parts():
    image, mask = demo_image()
    cropped, crop = object_crop(image, mask, size=64)
    frame = as_array(cropped).copy()
    frame[:, :8] = [0.0, 0.8, 0.0]  # a part "moved" into the crop's left edge, away from the object
    result = paste_back(torch.from_numpy(frame)[None], crop, image, mask)[0].numpy()
    original = as_array(image)
    assert result.shape == original.shape
    assert crop.left > 0 and crop.left + crop.side < 96
    assert np.array_equal(result[:, : crop.left], original[:, : crop.left])  # outside the crop square: untouched
    assert np.abs(result[75, 80] - original[75, 80]).max() < 0.03  # in the square but background: kept
    assert np.abs(result[40, 45] - original[40, 45]).max() < 0.1  # the object region comes from the frame
    left_edge = int(round(crop.left + 2 * crop.side / 64))
    assert result[40, left_edge, 1] > 0.6  # the moved part is shown over the background
