"""Drag sampling from a 3-D animation: a box whose hinged lid opens, seen by a camera, on the CPU."""

import numpy as np

from training.drag_sampling import deduplicate, depth_map, sample_drags, visible_vertices
from training.geometry import AnimatedPart, look_at_camera

FRAMES = 14
BOX_FACES = np.array(
    [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
)  # fmt: skip


def box(low, high):
    return np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])


def static(vertices):
    return AnimatedPart(np.repeat(vertices[None], FRAMES, axis=0), BOX_FACES)


def hinged_lid(max_degrees=70.0):
    """A lid on top of the body, opening about the back top edge (y = 0.3, z = 0.4), front edge rising."""
    lid = box((-0.3, -0.3, 0.4), (0.3, 0.3, 0.45))
    frames = []
    for angle in -np.radians(np.linspace(0, max_degrees, FRAMES)):
        cos, sin = np.cos(angle), np.sin(angle)
        relative = lid - [0, 0.3, 0.4]
        rotated = np.stack(
            [relative[:, 0], cos * relative[:, 1] - sin * relative[:, 2], sin * relative[:, 1] + cos * relative[:, 2]],
            1,
        )
        frames.append(rotated + [0, 0.3, 0.4])
    return AnimatedPart(np.stack(frames), BOX_FACES)


def scene():
    body = static(box((-0.3, -0.3, 0.0), (0.3, 0.3, 0.4)))
    inner = box((-0.1, -0.1, 0.1), (0.1, 0.1, 0.2))
    hidden = AnimatedPart(np.stack([inner + [0.0, 0.0, 0.1 * f / FRAMES] for f in range(FRAMES)]), BOX_FACES)
    camera = look_at_camera(np.array([0.0, -2.0, 1.2]), np.array([0.0, 0.0, 0.25]), size=256)
    return [body, hinged_lid(), hidden], camera


def test_only_the_visible_moving_lid_gets_a_drag():
    parts, camera = scene()
    tracks = sample_drags(parts, camera, np.random.default_rng(0))
    assert tracks.shape == (1, FRAMES, 2)
    track = tracks[0]
    assert ((track >= 0) & (track < 256)).all()
    assert track[-1, 1] < track[0, 1] - 10  # the lid's edge rises in the image
    lid_pixels, _ = camera.project(parts[1].vertices[:, :, :])
    assert np.isclose(lid_pixels, track[:, None, :], atol=1e-6).all(-1).any(1).all()  # it follows a lid vertex


def test_depth_test_hides_the_inner_part():
    parts, camera = scene()
    depth = depth_map(parts, camera)
    assert np.isfinite(depth).sum() > 1000
    assert not visible_vertices(parts[2], camera, depth).any()
    assert visible_vertices(parts[0], camera, depth).sum() >= 3


def test_single_part_meshes_get_a_random_number_of_drags():
    counts = set()
    for seed in range(12):
        lid = hinged_lid()
        tracks = sample_drags(
            [lid], look_at_camera(np.array([0.0, -2.0, 1.2]), np.zeros(3), 256), np.random.default_rng(seed)
        )
        counts.add(len(tracks))
    assert counts <= {1, 2, 3, 4} and len(counts) > 1  # 8 vertices, several close together get de-duplicated


def test_deduplication_and_limit():
    base = np.stack([np.linspace(0, 100, FRAMES), np.full(FRAMES, 50.0)], 1)
    near = base + [5.0, 5.0]
    far = base + [0.0, 80.0]
    kept = deduplicate([base, near, far], FRAMES, size=256)
    assert len(kept) == 2
    many = [base + [0.0, 30.0 * k] for k in range(8)]
    assert len(deduplicate(many, FRAMES, size=256)) == 5
