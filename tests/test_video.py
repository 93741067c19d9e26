"""Video export read back from disk, and the drag overlay."""

import av
import numpy as np
import pytest
import torch
from PIL import Image

from puppet_master.video import check_output, draw_drags, save_video


def frames(count=6, height=48, width=64):
    ramp = torch.linspace(0, 1, count).view(count, 1, 1, 1)
    return ramp.expand(count, height, width, 3).contiguous()


def read_mp4(path):
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return decoded


def test_mp4_round_trip_keeps_frame_count_and_size(tmp_path):
    decoded = read_mp4(save_video(frames(), tmp_path / "clip.mp4", fps=7))
    assert len(decoded) == 6 and decoded[0].shape == (48, 64, 3)
    assert decoded[-1].mean() > 200 and decoded[0].mean() < 30


def test_mp4_with_odd_size_is_padded_to_even(tmp_path):
    decoded = read_mp4(save_video(frames(height=47, width=63), tmp_path / "odd.mp4"))
    assert decoded[0].shape == (48, 64, 3)


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_animated_images_round_trip(tmp_path, suffix):
    path = save_video(frames(), tmp_path / f"clip{suffix}")
    with Image.open(path) as image:
        assert image.n_frames == 6 and image.size == (64, 48)


def test_unsupported_format_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"clip\.avi: \.avi is not a video format written here; end the file name in "
                       r"\.mp4, \.webp or \.gif, e\.g\. .*clip\.mp4"):  # fmt: skip
        save_video(frames(), tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="the name has no extension; end the file name in .mp4, .webp or .gif"):
        save_video(frames(), tmp_path / "clip")


def test_drag_overlay_draws_along_the_track_only():
    base = torch.full((3, 48, 64, 3), 0.5)
    tracks = np.array([[[10.0, 10.0], [30.0, 20.0], [50.0, 30.0]]])
    drawn = draw_drags(base, tracks)
    changed = (drawn - base).abs().sum(-1) > 0.05
    assert changed[2, 30, 50] and changed[2, 10, 10]  # current and start dots on the last frame
    red = (drawn[..., 0] > 0.8) & (drawn[..., 1] < 0.4)  # the first drag's colour
    assert red[2, 30, 50] and not red[0, 30, 50]  # on frame 0 the drag has not reached its end yet
    assert not changed[:, 45, 5].any()  # far from the track nothing changes


@pytest.mark.parametrize("fps", [7.5, 0.25, 29.97])
def test_mp4_keeps_a_fractional_or_low_frame_rate(tmp_path, fps):
    path = save_video(frames(), tmp_path / "clip.mp4", fps=fps)
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        assert abs(float(rate) - fps) < 1e-3 and len(list(container.decode(video=0))) == 6


def test_frames_may_come_one_at_a_time(tmp_path):
    images = (Image.new("RGB", (64, 48), (40 * i, 0, 0)) for i in range(5))
    assert len(read_mp4(save_video(images, tmp_path / "stream.mp4"))) == 5


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf"), 1e9])
def test_bad_frame_rates_are_refused_before_writing(tmp_path, fps):
    with pytest.raises(ValueError, match="fps must be a number above 0 and at most 240"):
        save_video(frames(), tmp_path / "clip.gif", fps=fps)
    assert not (tmp_path / "clip.gif").exists()


def test_an_output_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is not a writable folder"):
        check_output(blocker / "clip.mp4", 7)
    with pytest.raises(ValueError, match="is a folder"):
        check_output(tmp_path / "dir.mp4" if (tmp_path / "dir.mp4").mkdir() is None else None, 7)
