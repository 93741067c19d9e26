"""Object-centric crop, square padding, drag remapping and paste-back onto the original canvas."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from puppet_master.diagnostics.selfcheck import demo_image
from puppet_master.image import ImageInputError, load_image, normalised, object_crop, paste_back
from support import REPO


def as_array(image):
    return np.asarray(image, dtype=np.float32) / 255


def test_mask_crop_is_the_official_square_around_the_object():
    image, mask = demo_image()
    cropped, crop = object_crop(image, mask, scale=2.2, size=64)
    assert cropped.size == (64, 64)
    assert crop.side == int(39 * 2.2)  # box rows 22..60 and columns 30..60: larger side 39
    assert (crop.left + crop.side // 2, crop.top + crop.side // 2) == ((30 + 60) // 2, (22 + 60) // 2)
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
    with pytest.raises(ImageInputError) as empty:
        object_crop(image, np.zeros((80, 96)))
    assert str(empty.value) == (
        "mask is empty: no value is above 0.5 (its largest is 0); paint the object white in the mask, or give no "
        "mask to use the whole image"
    )
    with pytest.raises(ImageInputError) as faint:
        object_crop(image, np.full((80, 96), 0.03))
    assert str(faint.value).startswith("mask is empty: no value is above 0.5 (its largest is 0.03); paint the object")
    transparent = image.convert("RGBA")
    transparent.putalpha(Image.new("L", image.size, 100))
    with pytest.raises(ImageInputError) as alpha:
        object_crop(transparent)
    assert str(alpha.value) == (
        "image's alpha channel is empty: no value is above 0.5 (its largest is 0.39); make the object opaque, or "
        "give an image without transparency to use the whole image"
    )
    with pytest.raises(ImageInputError, match="mask contains NaN or infinite values"):
        object_crop(image, np.full((80, 96), np.nan))
    with pytest.raises(ValueError, match="size must be a whole number of pixels, at least 8"):
        object_crop(image, mask, size=4)


@pytest.mark.parametrize(
    ("scale", "message"),
    [(math.nan, "scale must be a finite number, got nan"), (math.inf, "finite"), (1e9, r"scale must be in \(0, 10\]"),
     (0, r"scale must be in \(0, 10\]"), ("2", "scale must be a finite number")],
)  # fmt: skip
def test_bad_scales_are_clear_errors(scale, message):
    image, mask = demo_image()
    with pytest.raises(ImageInputError, match=message):
        object_crop(image, mask, scale=scale)


def test_a_path_instead_of_an_image_says_how_to_open_it():
    with pytest.raises(ImageInputError, match="image must be a PIL image, got str: open files with .*load_image"):
        object_crop("photo.png")


def test_faint_mask_residue_does_not_widen_the_box():
    image, mask = demo_image()
    faint = np.asarray(mask, dtype=np.float32) / 255
    faint = np.where(faint > 0, faint, 0.03)  # JPEG-like residue over the whole background
    _, clean = object_crop(image, mask, size=64)
    _, noisy = object_crop(image, faint, size=64)
    assert noisy == clean and clean.side == int(39 * 2.2)


def test_a_soft_mask_is_the_composites_opacity_as_an_8_bit_alpha():
    """docs/fidelity.md: the box from values above 0.5, the composite from the mask as an RGBA image's alpha
    (round(255 x value)), so a soft edge stays soft and a binary mask is exactly the demo's alpha."""
    image, mask = demo_image()
    soft = np.asarray(mask, dtype=np.float32) / 255
    soft[22:61, 28:30] = 0.4  # an anti-aliased edge: below 0.5, so outside the box, but blended
    soft[40, 45] = 0.7
    rgba = image.copy()
    rgba.putalpha(Image.fromarray(np.rint(soft * 255).astype(np.uint8)))
    from_soft, crop = object_crop(image, soft, size=64)
    from_alpha, same_crop = object_crop(rgba, size=64)
    assert crop == same_crop and (crop.left + crop.side // 2, crop.side) == ((30 + 60) // 2, int(39 * 2.2))
    assert np.array_equal(np.asarray(from_soft), np.asarray(from_alpha))
    _, binary = object_crop(image, soft > 0.5, size=64)
    assert binary == crop


def test_images_below_the_minimum_side_are_refused_naming_their_size():
    for size in [(1, 1), (15, 200)]:
        with pytest.raises(ImageInputError) as refused:
            object_crop(Image.new("RGB", size))
        assert str(refused.value) == (
            f"image is {size[0]}x{size[1]} pixels, smaller than the 16x16 minimum: give the picture to animate "
            "(at least 16 px wide and high), not a placeholder"
        )
    cropped, crop = object_crop(Image.new("RGB", (16, 16)), size=8)
    assert cropped.size == (8, 8) and crop.side == 16
    image, mask = demo_image()
    _, crop = object_crop(image, mask, size=64)
    with pytest.raises(ImageInputError, match="original is 1x1 pixels, smaller than the 16x16 minimum"):
        paste_back(torch.zeros(1, 64, 64, 3), crop, Image.new("RGB", (1, 1)))


def test_sixteen_bit_and_float_images_keep_their_tones(tmp_path):
    ramp = np.linspace(0, 65535, 96 * 80).reshape(80, 96).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "sixteen.png")
    sixteen = load_image(tmp_path / "sixteen.png")
    assert sixteen.mode == "I;16" and normalised(sixteen).mode == "RGB"
    tones = np.asarray(normalised(sixteen))[..., 0].astype(int)
    assert abs(tones[0, 0]) <= 1 and abs(tones[-1, -1] - 255) <= 1 and abs(tones[40, 48] - 128) <= 2
    as_int = Image.fromarray(ramp.astype(np.int32))
    assert np.array_equal(np.asarray(normalised(as_int)), np.asarray(normalised(sixteen)))
    as_float = Image.fromarray((ramp / 65535).astype(np.float32))
    assert np.abs(np.asarray(normalised(as_float)).astype(int) - tones[..., None]).max() <= 1


def test_files_are_loaded_upright_or_refused_with_the_reason(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").size == (20, 40)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image", encoding="utf-8")
    image.save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    for name, message in [
        ("missing.png", "image file not found"),
        ("empty.png", r"is empty \(0 bytes\)"),
        ("text.png", "is not an image PIL can read"),
        ("cut.png", "damaged or truncated"),
    ]:
        with pytest.raises(ImageInputError, match=message):
            load_image(tmp_path / name)


def test_a_large_image_gives_the_same_crop_as_a_small_one():
    image, mask = demo_image()
    large = image.resize((96 * 12, 80 * 12), Image.NEAREST)
    large_mask = mask.resize(large.size, Image.NEAREST)
    small_crop, small_transform = object_crop(image, mask, size=64)
    large_crop, large_transform = object_crop(large, large_mask, size=64)
    assert abs(large_transform.side - 12 * small_transform.side) <= 12
    assert np.abs(as_array(large_crop) - as_array(small_crop)).mean() < 0.03


def test_only_the_square_is_read_so_a_huge_image_costs_the_square_not_the_image():
    strip = Image.new("RGB", (30000, 20), (0, 0, 255))
    mask = np.zeros((20, 30000), dtype=np.float32)
    mask[5:15, 100:110] = 1
    cropped, crop = object_crop(strip, mask, size=64)
    assert (crop.left, crop.top, crop.side) == (104 - 11, 9 - 11, 22)
    pixels = as_array(cropped)
    assert np.allclose(pixels[0, 32], 1.0) and np.allclose(pixels[32, 32], [0, 0, 1])
    padded, whole = object_crop(strip, size=64)  # a 30000 px square: reduced by 8 before the resize
    assert whole.side == 30000 and np.allclose(as_array(padded)[0, 0], 1.0) and as_array(padded)[32, 32, 2] > 0.9


CROP_MEMORY = """
import resource
import numpy as np
from PIL import Image
from puppet_master.image import object_crop

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

image = Image.new("RGB", (8000, 8000), (0, 0, 255))
mask = np.zeros((8000, 8000), dtype=np.float32)
mask[100:200, 100:200] = 1
inputs = peak_mib()
object_crop(image, mask)
small_object = peak_mib()
object_crop(image)
print(small_object - inputs, peak_mib() - small_object)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is read in KiB as Linux reports it")
def test_the_crops_memory_follows_its_square_not_the_image():
    """In a fresh interpreter: an 8000 px image (192 MB RGB, 256 MB float mask). Compositing or padding the whole
    image costs GBs (2.7 GiB before the crop cut only its square); a 220 px square costs the box search's
    image-sized boolean (64 MB), and the whole-image square (8000 px, reduced by 2) stays under 4096^2 x 4 x 3."""
    run = subprocess.run(
        [sys.executable, "-c", CROP_MEMORY], capture_output=True, text=True, cwd=REPO, check=True, encoding="utf-8"
    )
    small_object, whole_image = map(int, run.stdout.split())
    assert small_object < 128 and whole_image < 192, run.stdout


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
