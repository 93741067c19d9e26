"""Values that travel between the pack's nodes (ComfyUI types PM_SVD, PM_DRAGS, PM_CROP)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from puppet_master.drags import DragDocument
from puppet_master.image import CropTransform


@dataclass(frozen=True)
class DragSet:
    """PM_DRAGS: the drag document in pixels of the source image, and the crop applied since (if any).

    Tracks are resampled from the document for whatever frame count the sampler uses; the crop is
    affine, so mapping the resampled tracks equals resampling the mapped paths.
    """

    document: DragDocument
    frames: int
    crop: CropTransform | None = None

    def tracks(self, frames: int | None = None) -> np.ndarray:
        """(K, F, 2) pixel tracks in the current image (the crop, after Prepare Image)."""
        tracks = self.document.tracks(frames or self.frames)
        return self.crop.to_crop(tracks) if self.crop is not None else tracks

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image the tracks are in."""
        if self.crop is not None:
            return self.crop.size, self.crop.size
        return self.document.width, self.document.height
