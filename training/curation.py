"""Data curation (paper section 4 and appendix B.1): animation metrics, a random-forest keep/reject
classifier trained from a small labelled CSV, and the VLM realism filter with the paper's exact prompt
through any OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

import base64
import csv
import io
import json
import pickle
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

METRIC_NAMES = (
    "clip_box_x", "clip_box_y", "clip_box_z", "clip_centre_x", "clip_centre_y", "clip_centre_z",
    "frame_box_x", "frame_box_y", "frame_box_z", "mean_displacement", "max_displacement",
)  # fmt: skip

SYSTEM_PROMPT = """You are a 3D artist, and now you are being shown some animation videos depicting an animated 3D asset. You are asked to filter out some animations.

You should filter out the animations that:

(1) have trivial or no motion, i.e., the object is simply scaling, rotating, or moving as a whole without part-level dynamics;

or (2) depict a scene and only a small component in the scene is moving;

or (3) have motion that is imaginary, i.e., the motion is not the usual way of how the object moves and it’s hard for humans to anticipate;

or (4) have very large global motion so that the object exits the frame partially or fully in one of the frames;

or (5) have changes in object color that are not due to lighting changes;

or (6) have motion that causes different parts of the same object to disconnect, overlap in an unnatural way, or disappear;

or (7) have motion that is very chaotic, for example objects exploding or bursting apart."""  # noqa: E501
USER_PROMPT = (
    "For the following animation (as frames of a video), frame1, frame2, frame3, frame4, tell me, in a single word "
    "‘Yes’ or ‘No’, whether the video should be filtered out or not."
)


def animation_metrics(points: np.ndarray) -> dict[str, float]:
    """Metrics of an aligned point-cloud sequence (F, N, 3): the clip's bounding box (size and centre),
    the largest single-frame box (by diagonal), and the mean and max displacement of points from frame 0."""
    if points.ndim != 3 or points.shape[-1] != 3 or len(points) < 2:
        raise ValueError(f"points must be (frames >= 2, N, 3), got {points.shape}")
    low, high = points.min(axis=(0, 1)), points.max(axis=(0, 1))
    frame_sizes = points.max(axis=1) - points.min(axis=1)
    largest = frame_sizes[np.argmax(np.linalg.norm(frame_sizes, axis=1))]
    displacement = np.linalg.norm(points - points[:1], axis=2).max(axis=0)
    values = [*(high - low), *((high + low) / 2), *largest, displacement.mean(), displacement.max()]
    return dict(zip(METRIC_NAMES, map(float, values), strict=True))


class AnimationClassifier:
    """A random forest over `animation_metrics` deciding keep (True) or reject (False)."""

    def __init__(self, trees: int = 200, seed: int = 0) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.forest = RandomForestClassifier(n_estimators=trees, random_state=seed)

    @staticmethod
    def read_labels(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """A CSV with one row per animation: the METRIC_NAMES columns and `keep` (1/0, true/false, yes/no)."""
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        missing = [name for name in (*METRIC_NAMES, "keep") if rows and name not in rows[0]]
        if not rows or missing:
            raise ValueError(f"{path} needs a header with {', '.join(missing or METRIC_NAMES)} and at least one row")
        features = np.array([[float(row[name]) for name in METRIC_NAMES] for row in rows])
        labels = np.array([row["keep"].strip().lower() in ("1", "true", "yes", "keep") for row in rows])
        return features, labels

    def fit_csv(self, path: str | Path) -> AnimationClassifier:
        """Train the forest on a labelled CSV (the metric columns plus `keep`); returns self."""
        features, labels = self.read_labels(path)
        self.forest.fit(features, labels)
        return self

    def keep(self, metrics: Sequence[dict[str, float]]) -> np.ndarray:
        """(N,) bool decisions for metric dicts."""
        return self.forest.predict(np.array([[m[name] for name in METRIC_NAMES] for m in metrics])).astype(bool)

    def save(self, path: str | Path) -> None:
        """Pickle the trained forest to `path`."""
        Path(path).write_bytes(pickle.dumps(self.forest))

    @classmethod
    def load(cls, path: str | Path) -> AnimationClassifier:
        """Load a classifier saved by `save` (a pickle: only load files you made)."""
        classifier = cls()
        classifier.forest = pickle.loads(Path(path).read_bytes())
        return classifier


@dataclass(frozen=True)
class RealismVerdict:
    """The VLM's answer: `keep` is False when it says the animation should be filtered out."""

    keep: bool
    answer: str


class VLMRealismFilter:
    """Asks an OpenAI-compatible vision model the paper's question about four frames of an animation."""

    def __init__(self, endpoint: str, model: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = endpoint.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    @staticmethod
    def _data_url(image: Image.Image) -> str:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    def request_body(self, frames: Sequence[Image.Image]) -> dict:
        """The chat request: the system prompt, then the user prompt followed by the four frames."""
        if len(frames) != 4:
            raise ValueError(
                f"the realism prompt shows exactly 4 frames (the quarters of the animation), got {len(frames)}"
            )
        content = [{"type": "text", "text": USER_PROMPT}]
        content += [{"type": "image_url", "image_url": {"url": self._data_url(frame)}} for frame in frames]
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}],
            "temperature": 0,
        }

    def judge(self, frames: Sequence[Image.Image]) -> RealismVerdict:
        """Send the request; 'Yes' (filter out) -> keep=False, 'No' -> keep=True."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(self.request_body(frames)).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer = json.loads(response.read())["choices"][0]["message"]["content"].strip()
        word = answer.strip(" .!'\"‘’").split()[0].lower() if answer.strip() else ""
        if word not in ("yes", "no"):
            raise ValueError(f"the VLM answered {answer!r}, not 'Yes' or 'No'")
        return RealismVerdict(keep=word == "no", answer=answer)
