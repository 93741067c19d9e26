"""Curation: animation metrics, the random-forest filter from a labelled CSV, the VLM filter over loopback HTTP."""

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from training.curation import (
    METRIC_NAMES,
    SYSTEM_PROMPT,
    USER_PROMPT,
    AnimationClassifier,
    VLMRealismFilter,
    animation_metrics,
)


def test_metrics_of_a_known_motion():
    points = np.zeros((3, 2, 3))
    points[:, 1] = [1.0, 0.0, 0.0]
    points[2, 1] = [1.0, 0.0, 2.0]  # the second point rises by 2 at the last frame
    metrics = animation_metrics(points)
    assert (metrics["clip_box_x"], metrics["clip_box_z"]) == (1.0, 2.0)
    assert metrics["clip_centre_z"] == 1.0
    assert (metrics["frame_box_x"], metrics["frame_box_z"]) == (1.0, 2.0)
    assert (metrics["mean_displacement"], metrics["max_displacement"]) == (1.0, 2.0)
    with pytest.raises(ValueError, match="frames >= 2"):
        animation_metrics(points[:1])


def test_random_forest_learns_the_labels_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "labels.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*METRIC_NAMES, "keep"])
        writer.writeheader()
        for _ in range(120):
            row = {name: rng.uniform(0, 1) for name in METRIC_NAMES}
            row["mean_displacement"] = rng.uniform(0, 1)
            row["keep"] = "yes" if 0.1 < row["mean_displacement"] < 0.6 else "no"
            writer.writerow(row)
    classifier = AnimationClassifier(trees=50).fit_csv(path)
    probe = [{**{n: 0.5 for n in METRIC_NAMES}, "mean_displacement": d} for d in (0.02, 0.3, 0.9)]
    assert classifier.keep(probe).tolist() == [False, True, False]
    classifier.save(tmp_path / "forest.pkl")
    assert AnimationClassifier.load(tmp_path / "forest.pkl").keep(probe).tolist() == [False, True, False]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs a header with clip_box_x"):
        AnimationClassifier().fit_csv(tmp_path / "bad.csv")


class FakeVLM(BaseHTTPRequestHandler):
    answer = "No."
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeVLM.requests.append((self.path, dict(self.headers), body))
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": FakeVLM.answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def vlm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeVLM.requests.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_vlm_filter_sends_the_papers_prompt_and_reads_the_verdict(vlm_server):
    frames = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(4)]
    vlm = VLMRealismFilter(vlm_server, model="gpt-4o", api_key="secret", timeout=10)
    FakeVLM.answer = "No."
    assert vlm.judge(frames).keep is True
    path, headers, body = FakeVLM.requests[-1]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer secret"
    assert body["model"] == "gpt-4o"
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert (
        system["content"].startswith("You are a 3D artist") and "(7) have motion that is very chaotic" in SYSTEM_PROMPT
    )
    assert user["content"][0] == {"type": "text", "text": USER_PROMPT}
    assert [part["image_url"]["url"][:22] for part in user["content"][1:]] == ["data:image/png;base64,"] * 4
    FakeVLM.answer = "Yes"
    assert vlm.judge(frames).keep is False
    FakeVLM.answer = "Maybe, it depends"
    with pytest.raises(ValueError, match="not 'Yes' or 'No'"):
        vlm.judge(frames)
    with pytest.raises(ValueError, match="exactly 4 frames"):
        vlm.judge(frames[:3])
