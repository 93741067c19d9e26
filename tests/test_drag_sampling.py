"""Drag sampling from a 3-D animation on the CPU: a box whose hinged lid opens, the official sample_drags.py rules."""

import json

import numpy as np

from training.drag_sampling import (
    main,
    path_length,
    pixel_tracks,
    rasterise,
    sample_drag_files,
    sample_drags,
    visible_pixels,
    visible_vertices,
)
from training.geometry import AnimatedPart, look_at_camera
from training.renders import DRAGS_FILE, write_cameras, write_metadata, write_parts

FRAMES = 14
CUTS = 6


def grid_box(low, high, cuts=CUTS):
    """A box whose every face is a (cuts + 1) x (cuts + 1) vertex grid (so faces have inner vertices)."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    t = np.linspace(0, 1, cuts + 1)
    u, v = (a.ravel() for a in np.meshgrid(t, t))
    vertices, faces = [], []
    for axis in range(3):
        for side in (0, 1):
            a, b = [i for i in range(3) if i != axis]
            face = np.zeros((len(u), 3))
            face[:, axis] = (low, high)[side][axis]
            face[:, a] = low[a] + u * (high[a] - low[a])
            face[:, b] = low[b] + v * (high[b] - low[b])
            offset = sum(len(f) for f in vertices)
            for row in range(cuts):
                for column in range(cuts):
                    corner = offset + row * (cuts + 1) + column
                    faces += [[corner, corner + 1, corner + cuts + 2], [corner, corner + cuts + 2, corner + cuts + 1]]
            vertices.append(face)
    return np.concatenate(vertices), np.array(faces)


def static(low, high, frames=FRAMES, cuts=CUTS):
    vertices, faces = grid_box(low, high, cuts)
    return AnimatedPart(np.repeat(vertices[None], frames, axis=0), faces)


def hinged_lid(max_degrees=70.0, frames=FRAMES, still=0, cuts=CUTS):
    """A lid on top of the body opening about the back top edge (y = 0.3, z = 0.4) after `still` frames."""
    lid, faces = grid_box((-0.3, -0.3, 0.4), (0.3, 0.3, 0.45), cuts)
    angles = -np.radians(np.concatenate([np.zeros(still), np.linspace(0, max_degrees, frames - still)]))
    positions = []
    for angle in angles:
        cos, sin = np.cos(angle), np.sin(angle)
        relative = lid - [0, 0.3, 0.4]
        rotated = np.stack(
            [relative[:, 0], cos * relative[:, 1] - sin * relative[:, 2], sin * relative[:, 1] + cos * relative[:, 2]],
            1,
        )
        positions.append(rotated + [0, 0.3, 0.4])
    return AnimatedPart(np.stack(positions), faces)


def camera(size=512):
    return look_at_camera(np.array([0.0, -2.0, 1.2]), np.array([0.0, 0.0, 0.25]), size=size)


def scene(frames=FRAMES, size=512):
    """Body, opening lid and a part hidden inside the body that moves, seen from the front and above."""
    body = static((-0.3, -0.3, 0.0), (0.3, 0.3, 0.4), frames)
    inner, faces = grid_box((-0.1, -0.1, 0.1), (0.1, 0.1, 0.2), cuts=2)
    hidden = AnimatedPart(np.stack([inner + [0.0, 0.0, 0.1 * f / frames] for f in range(frames)]), faces)
    return [body, hinged_lid(frames=frames), hidden], camera(size)


def test_only_the_visible_moving_lid_gets_drags_and_they_follow_its_vertices():
    parts, cam = scene()
    zbuffer = rasterise(parts, cam)
    lid_pixels = int(visible_pixels(zbuffer, 1).sum())
    allowed = max(1, lid_pixels // 5000)
    counts = set()
    for seed in range(8):
        tracks = sample_drags(parts, cam, 0, np.random.default_rng(seed))
        counts.add(len(tracks))
        assert tracks.dtype == np.int64 and tracks.shape[1:] == (FRAMES, 2)
        lid_tracks = pixel_tracks(cam, parts[1].vertices)  # (F, V, 2) every lid vertex's integer track
        for track in tracks:
            assert (lid_tracks == track[:, None]).all(-1).all(0).any()  # the whole track is one lid vertex's
            assert track[-1, 1] < track[0, 1] - 10  # the lid's front rises in the image
    assert allowed >= 2 and counts <= set(range(1, allowed + 1)) and len(counts) > 1


def test_z_buffer_hides_the_inner_part_and_keeps_the_front_faces():
    parts, cam = scene()
    zbuffer = rasterise(parts, cam)
    assert np.isfinite(zbuffer.depth).sum() > 10000 and set(np.unique(zbuffer.part)) == {-1, 0, 1}
    for index, part in enumerate(parts):
        visible = visible_vertices(part.vertices[0], cam, zbuffer, visible_pixels(zbuffer, index))
        assert visible.any() == (index != 2)
    body = parts[0].vertices[0]
    back = visible_vertices(body, cam, zbuffer, visible_pixels(zbuffer, 0))[np.isclose(body[:, 1], 0.3)]
    assert not back.any()  # the back face (y = 0.3) is behind the front one


def test_displacement_runs_to_the_end_of_the_animation():
    """The lid is still for the first 14 frames and opens after: officially it still gets (motionless) drags."""
    frames = 20
    body = static((-0.3, -0.3, 0.0), (0.3, 0.3, 0.4), frames)
    parts = [body, hinged_lid(frames=frames, still=FRAMES)]
    assert path_length(parts[1].vertices[:FRAMES]).max() == 0
    tracks = sample_drags(parts, camera(), 0, np.random.default_rng(0))
    assert len(tracks) and (tracks == tracks[:, :1]).all()
    assert len(sample_drags(parts, camera(), 0, np.random.default_rng(0), frames=frames)) == len(tracks)


def test_small_parts_slow_parts_and_transparent_pixels_get_no_drags():
    parts, _ = scene()
    far = look_at_camera(np.array([0.0, -40.0, 24.0]), np.array([0.0, 0.0, 0.25]), size=512)
    zbuffer = rasterise(parts, far)
    assert 0 < visible_pixels(zbuffer, 1).sum() < 100
    assert len(sample_drags(parts, far, 0, np.random.default_rng(0))) == 0
    slow = [parts[0], hinged_lid(max_degrees=4.0)]  # the lid's front edge moves about 0.04 < 0.1
    assert path_length(slow[1].vertices).max() < 0.1
    assert len(sample_drags(slow, camera(), 0, np.random.default_rng(0))) == 0
    transparent = np.zeros((512, 512), dtype=np.uint8)
    assert len(sample_drags(parts, camera(), 0, np.random.default_rng(0), alpha=transparent)) == 0


def test_pixel_counts_scale_with_the_render_size():
    parts, cam = scene(size=128)
    tracks = sample_drags(parts, cam, 0, np.random.default_rng(0))
    assert 1 <= len(tracks) and ((tracks[:, 0] >= 0) & (tracks[:, 0] < 128)).all()


def test_drag_files_keep_every_candidate_of_every_view(tmp_path, capsys):
    parts, cam = scene(frames=17)
    object_dir = tmp_path / "box01"
    (object_dir / "open").mkdir(parents=True)
    (object_dir / "short").mkdir()
    write_metadata(object_dir, {"category": "Daily-Used", "size": 512})
    back = look_at_camera(np.array([0.0, 2.0, 1.2]), np.array([0.0, 0.0, 0.25]), size=512)
    write_cameras(object_dir, [cam, back])
    write_parts(object_dir / "open", dict(zip(("body", "lid", "inner"), parts, strict=True)))
    short, _ = scene(frames=FRAMES)
    write_parts(object_dir / "short", dict(zip(("body", "lid", "inner"), short, strict=True)))
    assert sample_drag_files(tmp_path, samples=4, seed=3) == 1  # a 14-frame action has no start officially
    assert not (object_dir / "short" / DRAGS_FILE).exists()
    content = json.loads((object_dir / "open" / DRAGS_FILE).read_text(encoding="utf-8"))
    assert (content["render_size"], content["window"], len(content["samples"])) == (512, FRAMES, 4)
    for sample in content["samples"]:
        assert 0 <= sample["start_frame"] < 17 - FRAMES and len(sample["tracks"]) == 2
        front = np.array(sample["tracks"][0])
        assert len(front) >= 1 and front.shape[1:] == (FRAMES, 2)
        assert all(isinstance(value, int) for value in front.ravel().tolist())
    first = (object_dir / "open" / DRAGS_FILE).read_text(encoding="utf-8")
    assert main([str(tmp_path), "--samples", "4", "--seed", "3"]) == 0
    assert "1 actions with drag samples written" in capsys.readouterr().out
    assert (object_dir / "open" / DRAGS_FILE).read_text(encoding="utf-8") == first
