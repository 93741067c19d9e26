"""The crop and the drag tensor against the official demo's own outputs (../shared/fixtures/
official_preprocess_io.safetensors: `center_and_square_image`, the composite of `preprocess_image` and the drag
tensor of `generate_image` run on five scenes with binary masks), in float32, through the code users run.

Beyond the fixtures, `demo_crop` below is the demo's preprocessing written out step by step from
../shared/reference/spec.md section 3.2 (pad the whole image, cut, resize RGBA, composite); it is checked
against the fixtures first, then used where a fixture cannot go: squares up to 4,096 px are equal to it, larger
ones (box-reduced first, to bound memory) within the documented approximation."""

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from puppet_master.image import EXACT_SQUARE_SIDE, object_crop
from puppet_master.pipeline import crop_inputs
from support import OFFICIAL_PREPROCESS_CASES, clicks_document, official_preprocess_case, shared_path

FRAMES = 14


def demo_crop(image: np.ndarray, mask: np.ndarray, scale: float = 2.2, size: int = 256) -> tuple[np.ndarray, list]:
    """The demo's steps as spec.md 3.2 lists them, on the whole image: (size, size, 3) uint8 and [left, top, side]."""
    rows, columns = np.nonzero(mask)
    y_min, y_max, x_min, x_max = rows.min(), rows.max(), columns.min(), columns.max()
    centre_y, centre_x = (y_min + y_max) // 2, (x_min + x_max) // 2
    side = int(max(y_max - y_min + 1, x_max - x_min + 1) * scale)
    half = side // 2
    rgba = np.dstack([image, (mask > 0) * np.uint8(255)])
    padded = np.pad(rgba, ((half, half), (half, half), (0, 0)), constant_values=255)
    square = padded[centre_y : centre_y + side, centre_x : centre_x + side]
    resized = np.asarray(Image.fromarray(square).resize((size, size), Image.LANCZOS), dtype=np.float32)
    rgb, alpha = resized[..., :3], resized[..., 3:]
    flat = rgb * alpha / 255 + 255 * (1 - alpha / 255)
    return flat.astype(np.uint8), [int(centre_x - half), int(centre_y - half), side]


def level_difference(a, b) -> np.ndarray:
    return np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))


def test_the_fixture_holds_the_five_cases_tested_here():
    with safe_open(shared_path("fixtures/official_preprocess_io.safetensors"), "np") as fixture:
        assert sorted(fixture.metadata()) == OFFICIAL_PREPROCESS_CASES


@pytest.mark.parametrize("name", OFFICIAL_PREPROCESS_CASES)
def test_crop_window_and_drags_equal_the_demos(name):
    case = official_preprocess_case(name)
    height, width = case["mask"].shape
    image = Image.fromarray(case["image"])
    document = clicks_document(case["clicks"], width, height)
    inputs = crop_inputs(image, document, case["mask"].astype(np.float32), frames=FRAMES)
    crop = inputs.crop
    assert [crop.left, crop.top, crop.side] == case["window_left_top_side"]
    pixels = np.rint(inputs.pixels[0].permute(1, 2, 0).numpy() * 255)
    assert level_difference(pixels, case["crop"]).max() == 0
    drags = inputs.drags.numpy()
    assert drags.dtype == case["drags"].dtype == np.float32 and drags.shape == (FRAMES, 5, 4)
    assert np.abs(drags - case["drags"]).max() <= 1e-6


@pytest.mark.parametrize("name", OFFICIAL_PREPROCESS_CASES)
def test_an_rgba_image_whose_alpha_is_the_mask_gives_the_same_crop(name):
    """The demo's own input: the segmented RGBA image (alpha 255 on the object, 0 elsewhere)."""
    case = official_preprocess_case(name)
    rgba = Image.fromarray(np.dstack([case["image"], case["mask"] * np.uint8(255)]))
    cropped, crop = object_crop(rgba)
    assert [crop.left, crop.top, crop.side] == case["window_left_top_side"]
    assert level_difference(cropped, case["crop"]).max() == 0


@pytest.mark.parametrize("name", OFFICIAL_PREPROCESS_CASES)
def test_the_written_out_demo_steps_reproduce_the_fixture(name):
    """So that `demo_crop` may stand in for the demo where no fixture exists."""
    case = official_preprocess_case(name)
    crop, window = demo_crop(case["image"], case["mask"])
    assert window == case["window_left_top_side"] and level_difference(crop, case["crop"]).max() == 0


def textured_scene(side: int, extent: int) -> tuple[np.ndarray, np.ndarray]:
    """A side x side image with gradients, a 3 px checker and noise, and a disk-shaped binary mask whose box is
    exactly extent x extent (one corner pixel set), centred."""
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:side, 0:side]
    checker = ((rows // 3 + columns // 3) % 2) * 255
    noise = rng.integers(-40, 40, (side, side, 3))
    image = np.stack([columns * 255 // side, rows * 255 // side, checker], axis=-1) + noise
    mask = np.zeros((side, side), dtype=np.uint8)
    offset = (side - extent) // 2
    disk_rows, disk_columns = np.ogrid[0:extent, 0:extent]
    disk = (disk_rows - extent / 2) ** 2 + (disk_columns - extent / 2) ** 2 <= (extent / 2) ** 2
    disk[0, 0] = disk[-1, -1] = True
    mask[offset : offset + extent, offset : offset + extent] = disk
    return np.clip(image, 0, 255).astype(np.uint8), mask


def test_a_square_of_4096_px_is_still_the_demos_crop():
    image, mask = textured_scene(2000, 1862)  # int(1862 * 2.2) = 4096: the largest square resampled exactly
    expected, window = demo_crop(image, mask)
    cropped, crop = object_crop(Image.fromarray(image), mask)
    assert window[2] == crop.side == EXACT_SQUARE_SIDE and [crop.left, crop.top, crop.side] == window
    assert level_difference(cropped, expected).max() == 0


def test_a_larger_square_is_reduced_first_within_the_documented_difference():
    """docs/fidelity.md: above 4,096 px the square is box-reduced by an integer factor before the LANCZOS resize."""
    image, mask = textured_scene(2000, 1863)  # side 4098: reduced by 2
    expected, window = demo_crop(image, mask)
    cropped, crop = object_crop(Image.fromarray(image), mask)
    assert [crop.left, crop.top, crop.side] == window and crop.side > EXACT_SQUARE_SIDE
    difference = level_difference(cropped, expected)
    assert 0 < difference.max() <= 3 and difference.mean() < 0.05
