"""Property-based checks (hypothesis): for any input, a clear error of our own or a correct result,
never a raw exception. Covers drag documents and tracks, node widget validation, safetensors headers and
the crop; example counts keep the file well under a minute."""

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nodes.crop_nodes import PuppetMasterPrepareImage
from nodes.drag_nodes import PuppetMasterDrags
from nodes.sampler import PuppetMasterSampler
from puppet_master.drags import DragDocument, DragDocumentError, drag_tensor, parse_drag_document
from puppet_master.image import ImageInputError, object_crop
from puppet_master.loading import DTYPE_SIZES, CheckpointError, inspect_checkpoint, read_safetensors

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 0, 1, 0.5, 1e308]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
point = st.one_of(
    st.lists(numbers, min_size=2, max_size=2), st.fixed_dictionaries({"x": numbers, "y": numbers}), json_values
)
points = st.lists(point, max_size=5)
times = st.one_of(st.lists(numbers, max_size=5), json_values)
drag_entries = st.one_of(
    st.fixed_dictionaries({"points": points}, optional={"times": times}),
    points,
    json_values,
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"version": st.one_of(st.just(1), json_values), "width": st.one_of(st.integers(1, 300), numbers, json_values),
         "height": st.one_of(st.integers(1, 300), numbers, json_values),
         "drags": st.one_of(st.lists(drag_entries, max_size=7), json_values)}
    ),
    st.lists(st.lists(st.fixed_dictionaries({"x": numbers, "y": numbers}), max_size=4), max_size=6),
    json_values,
)  # fmt: skip
image_sizes = st.one_of(st.none(), st.tuples(st.integers(1, 400), st.integers(1, 400)))


def as_text(value):
    return json.dumps(value, allow_nan=True, default=str)


def check_document(document: DragDocument, size) -> None:
    """A parsed document is usable: finite tracks inside the image, at most 5 drags, a valid model tensor."""
    width, height = size or (document.width, document.height)
    assert (document.width, document.height) == (width, height) and len(document.drags) <= 5
    tracks = document.tracks(6)
    assert tracks.shape == (len(document.drags), 6, 2) and np.isfinite(tracks).all()
    assert (tracks >= -1e-9).all() and (tracks[..., 0] <= width + 1e-9).all()
    assert (tracks[..., 1] <= height + 1e-9).all()
    model = drag_tensor(tracks, width, height)
    assert model.shape == (6, 5, 4) and bool(((model >= -1e-6) & (model <= 1 + 1e-6)).all())


@FAST
@given(documents, image_sizes, st.booleans())
def test_any_drag_document_is_parsed_correctly_or_refused_clearly(value, size, through_text):
    try:
        document = parse_drag_document(as_text(value) if through_text else value, size)
    except DragDocumentError as error:
        assert str(error) and len(str(error)) < 1000
        return
    check_document(document, size)


@FAST
@given(st.text(max_size=40) | st.sampled_from(["[" * 5000, "{" * 3000, "1" * 5000, "NaN", "-Infinity", "null", " "]))
def test_any_text_is_parsed_or_refused_clearly(text):
    try:
        check_document(parse_drag_document(text, (64, 48)), (64, 48))
    except DragDocumentError as error:
        assert str(error)


widget_values = st.one_of(st.none(), numbers, st.text(max_size=10), st.booleans(), json_values)


@FAST
@given(widget_values, widget_values, widget_values)
def test_node_validation_answers_true_or_a_message_never_raises(cfg, min_cfg, scale):
    answers = [
        PuppetMasterSampler.validate_inputs(cfg=cfg, min_cfg=min_cfg),
        PuppetMasterPrepareImage.validate_inputs(scale=scale),
        PuppetMasterDrags.validate_inputs(drags=as_text(cfg)),
        PuppetMasterDrags.validate_inputs(drags=cfg if isinstance(cfg, str) else None),
    ]
    for answer in answers:
        assert answer is True or (isinstance(answer, str) and answer)
    finite = [v for v in (cfg, min_cfg) if isinstance(v, float) and not math.isfinite(v)]
    if finite:
        assert answers[0] is not True


entries = st.one_of(
    st.fixed_dictionaries(
        {"dtype": st.one_of(st.sampled_from(sorted(DTYPE_SIZES)), json_values),
         "shape": st.one_of(st.lists(st.integers(-2, 5), max_size=3), json_values),
         "data_offsets": st.one_of(st.lists(st.integers(-4, 64), min_size=2, max_size=2), json_values)}
    ),
    json_values,
)  # fmt: skip
headers = st.one_of(st.dictionaries(st.text(max_size=8), entries, max_size=4), json_values)


@FAST
@given(headers, st.integers(0, 80))
def test_any_safetensors_header_is_read_consistently_or_refused(tmp_path_factory, header, data_length):
    path = tmp_path_factory.mktemp("st") / "x.safetensors"
    text = json.dumps(header, allow_nan=True, default=str).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * data_length)
    try:
        parsed = read_safetensors(path)
    except CheckpointError as error:
        assert str(error)
        return
    spans = []
    for entry in parsed.tensors.values():
        assert entry.end - entry.begin == DTYPE_SIZES[entry.dtype] * math.prod(entry.shape)
        assert entry.end <= data_length
        spans.append((entry.begin, entry.end))
    spans = sorted(span for span in spans if span[1] > span[0])
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    info = inspect_checkpoint(path)
    assert info.num_parameters == sum(math.prod(entry.shape) for entry in parsed.tensors.values())
    assert sum(entry.end - entry.begin for entry in parsed.tensors.values()) <= data_length


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40), st.integers(1, 40), st.one_of(numbers, st.text(max_size=3)),
    st.one_of(st.integers(-4, 300), numbers), st.floats(0, 1) | st.sampled_from([0.0, 0.01, 255.0, math.nan]),
)  # fmt: skip
def test_any_crop_request_gives_the_square_or_a_clear_error(width, height, scale, size, fill):
    image = Image.new("RGB", (width, height), (10, 20, 30))
    mask = np.zeros((height, width), dtype=np.float32)
    mask[height // 3 : height // 3 + 2, width // 2 :] = fill
    try:
        cropped, crop = object_crop(image, mask, scale=scale, size=size)
    except ImageInputError as error:
        assert str(error)
        return
    assert cropped.size == (size, size) and crop.side >= 1


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (15, 40)])
def test_images_below_the_minimum_side_are_refused_without_a_mask_too(size):
    with pytest.raises(ImageInputError, match=f"image is {size[0]}x{size[1]} pixels, smaller than the 16x16 minimum"):
        object_crop(Image.new("RGB", size), size=8)
