"""Cameras and animated parts: plain numpy, importable inside a Blender (bpy) process without torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """A pinhole camera in OpenCV convention: x right, y down, z forward; world -> camera = R X + t."""

    intrinsics: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    width: int
    height: int

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> (..., 2) pixel coordinates and (...) depths."""
        camera = points @ self.rotation.T + self.translation
        depth = camera[..., 2]
        homogeneous = camera @ self.intrinsics.T
        with np.errstate(divide="ignore", invalid="ignore"):
            pixels = homogeneous[..., :2] / depth[..., None]
        return pixels, depth


@dataclass(frozen=True)
class AnimatedPart:
    """One sub-model: vertices per frame (F, V, 3) and triangles (T, 3) indexing them."""

    vertices: np.ndarray
    faces: np.ndarray


def look_at_camera(eye: np.ndarray, target: np.ndarray, size: int, fov_degrees: float = 49.1) -> Camera:
    """A square camera at `eye` looking at `target` (world z up), e.g. the paper's 35 mm lens on a 32 mm sensor."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    if np.linalg.norm(right) < 1e-8:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    focal = size / 2 / np.tan(np.radians(fov_degrees) / 2)
    intrinsics = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]])
    return Camera(intrinsics, rotation, -rotation @ eye, size, size)
