"""The drag document: parsing, validation errors, resampling and the model's drag tensor."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from puppet_master.drags import DragDocumentError, drag_tensor, parse_drag_document, resample_path


def document(*drags, width=256, height=256):
    return {"version": 1, "width": width, "height": height, "drags": [{"points": d} for d in drags]}


def test_two_point_drag_is_the_official_linear_interpolation():
    doc = parse_drag_document(document([[64, 96], [128, 32]]))
    tensor = drag_tensor(doc.tracks(14), 256, 256)
    start, end = torch.tensor([0.25, 0.375]), torch.tensor([0.5, 0.125])
    t = torch.arange(14, dtype=torch.float32)[:, None] / 13
    assert tensor.shape == (14, 5, 4) and tensor.dtype == torch.float32
    assert torch.equal(tensor[:, 0, :2], start.expand(14, 2))
    assert torch.allclose(tensor[:, 0, 2:], start * (1 - t) + end * t, atol=1e-7, rtol=0)
    assert torch.equal(tensor[0, 0, 2:], start) and torch.equal(tensor[-1, 0, 2:], end)
    assert tensor[:, 1:].eq(0).all()


def test_polyline_moves_at_constant_speed():
    track = resample_path([(0, 0), (10, 0), (10, 10)], 5)
    assert np.allclose(track, [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10]])


def test_times_control_when_each_point_is_reached():
    track = resample_path([(0, 0), (10, 0), (10, 10)], 5, times=[0, 0.25, 1])
    assert np.allclose(track[1], [10, 0])
    assert np.allclose(track[3], [10, 20 / 3])
    late_start = resample_path([(0, 0), (8, 0)], 5, times=[0.5, 1.0])
    assert np.allclose(late_start[:, 0], [0, 0, 0, 4, 8])


def test_static_drag_stays_put():
    assert np.allclose(resample_path([(5, 7), (5, 7)], 4), [[5, 7]] * 4)


def test_kjnodes_tracks_are_accepted():
    tracks = [[{"x": 10, "y": 20}, {"x": 30, "y": 40}], [{"x": 50, "y": 60}, {"x": 70, "y": 60}, {"x": 90, "y": 60}]]
    doc = parse_drag_document(json.dumps(tracks), image_size=(100, 80))
    assert (doc.width, doc.height) == (100, 80) and len(doc.drags) == 2
    assert doc.drags[1].points[-1] == (90.0, 60.0)
    single = parse_drag_document([{"x": 1, "y": 2}, {"x": 3, "y": 4}], image_size=(10, 10))
    assert len(single.drags) == 1


def test_document_drawn_on_another_size_is_rescaled():
    doc = parse_drag_document(document([[50, 50], [100, 25]], width=200, height=100), image_size=(400, 200))
    assert doc.drags[0].points == ((100.0, 100.0), (200.0, 50.0))


def test_round_trip_through_json():
    raw = {"version": 1, "width": 64, "height": 48, "drags": [{"points": [[1, 2], [3, 4]], "times": [0, 1]}]}
    assert parse_drag_document(json.dumps(raw)).to_json() == raw


def test_empty_drag_list_means_no_drags_with_a_warning(caplog):
    doc = parse_drag_document('{"version": 1, "width": 32, "height": 16, "drags": []}', image_size=(32, 16))
    assert doc.drags == () and drag_tensor(doc.tracks(14), 32, 16).eq(0).all()
    assert "no drags: the video is generated without any drag" in caplog.text


@pytest.mark.parametrize("text", ["", "   \n"])
def test_an_empty_text_is_not_a_document(text):
    with pytest.raises(DragDocumentError, match="the drag document is empty: draw at least one drag"):
        parse_drag_document(text, image_size=(32, 16))


def test_a_document_of_another_shape_is_rescaled_with_a_warning(caplog):
    raw = {"version": 1, "width": 1000, "height": 100, "drags": [{"points": [[500, 50], [600, 50]]}]}
    doc = parse_drag_document(json.dumps(raw), image_size=(96, 80))
    assert doc.drags[0].points[0] == pytest.approx((48.0, 40.0))
    assert "drawn on a 1000x100 image but the image is 96x80: they are stretched unevenly" in caplog.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (document(*[[[10, 10], [20, 20]]] * 6), "6 drags given but the model takes at most 5: remove 1"),
        (document([[10, 10], [20, 20]], [[10, 10], [20, 20], [300, 20]]), r"drag 2 point 3 \(300, 20\) is outside"),
        (document([[10, 10], [-1, 20]]), "drag 1 point 2 .* outside the 256x256 image"),
        (document([[10, math.nan], [20, 20]]), "drag 1 point 1 y must be a finite number"),
        (document([[10, "a"], [20, 20]]), "drag 1 point 1 y must be a number, got str"),
        (document([[10, 10]]), "drag 1 needs at least 2 points"),
        (document([]), "drag 1 needs at least 2 points"),
        (document([[0, 0], [20, 20]]), r"drag 1 starts exactly at the image corner \(0, 0\)"),
        (document([[10, 10, 3], [20, 20]]), r"drag 1 point 1 must be \[x, y\]"),
        ({**document(), "version": 2}, '"version" must be 1'),
        ({**document(), "version": True}, '"version" must be 1, got true'),  # True == 1 in Python
        ({**document(), "version": False}, '"version" must be 1, got false'),
        ({**document(), "width": 0}, '"width" must be a whole number of pixels from 1 to 65536'),
        ({**document(), "width": 10**400}, '"width" must be a whole number of pixels from 1 to 65536, got 1000'),
        ({**document(), "height": 2**63}, '"height" must be a whole number of pixels from 1 to 65536'),
        ({**document(), "width": 1e9}, '"width" must be a whole number'),
        ('{"version": 1, "width": NaN, "height": 5, "drags": []}', '"width" must be a whole number.*got nan'),
        ('{"version": 1, "width": Infinity, "height": 5, "drags": []}', '"width" must be a whole number.*got inf'),
        (document([[10**400, 10], [20, 20]]), "drag 1 point 1 x must be a finite number, got 1000"),
        ("[" * 100_000, "nested too deeply"),
        ("1" * 5000, "not valid JSON"),
        ({**document(), "drags": "none"}, '"drags" must be a list'),
        ("{not json", "not valid JSON"),
        (42, "must be a JSON object or a list of tracks"),
        (
            {"version": 1, "width": 9, "height": 9, "drags": [{"points": [[1, 1], [2, 2]], "times": [0.5, 0.2]}]},
            "drag 1 times must be non-decreasing",
        ),
        (
            {"version": 1, "width": 9, "height": 9, "drags": [{"points": [[1, 1], [2, 2]], "times": [0, 0.5, 1]}]},
            "drag 1 times must be a list of 2 numbers",
        ),
    ],
)
def test_bad_documents_name_the_problem(data, message):
    with pytest.raises(DragDocumentError, match=message):
        parse_drag_document(data if isinstance(data, str | int) else json.dumps(data))


def test_tracks_need_the_image_size():
    with pytest.raises(DragDocumentError, match="tracks carry no image size"):
        parse_drag_document([[{"x": 1, "y": 2}, {"x": 3, "y": 4}]])


def test_shared_js_vectors_match_python():
    """tests/js/vectors.json is what both resamplers must produce (the JS side checks it with node --test)."""
    from support import REPO

    cases = json.loads((REPO / "tests" / "js" / "vectors.json").read_text(encoding="utf-8"))["cases"]
    for case in cases:
        ours = resample_path(case["points"], case["frames"], case.get("times"))
        assert np.allclose(ours, case["expected"], rtol=0, atol=1e-12), case["points"]


@pytest.mark.parametrize("given", ["drags.json", "outputs/demo_drags.json", "C:\\drags\\cabinet.json", "cabinet.JSON"])
def test_a_file_name_where_the_text_belongs_is_named_as_one(given):
    """The document is text (a ComfyUI widget's value, never a file on the server): a path says how to pass it."""
    name = repr(given)
    expected = (
        f"the drag document given is {name}, which looks like a file path, not the document's JSON text: pass the "
        f"file's text (in Python Path({name}).read_text(encoding='utf-8'); the CLI's --drags takes the path)"
    )
    with pytest.raises(DragDocumentError) as raised:
        parse_drag_document(given)
    assert str(raised.value) == expected and "char 0" not in expected
    with pytest.raises(DragDocumentError, match="looks like a file path"):
        parse_drag_document(Path(given))


def test_a_file_the_text_names_is_never_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cabinet").write_text(json.dumps(document([[10, 10], [20, 20]])), encoding="utf-8")
    with pytest.raises(DragDocumentError, match="'cabinet', which looks like a file path"):
        parse_drag_document("cabinet")
    with pytest.raises(DragDocumentError, match="not valid JSON"):  # neither JSON nor a path: the JSON error
        parse_drag_document("cabinet drags")
