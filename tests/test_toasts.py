"""The library's warnings, logged while a node runs, reach the client that queued the prompt as a toast event
(nodes/toasts.py; tests/e2e/test_wrong_loader_on_server.py checks it over a real server's websocket)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest

from nodes.toasts import EVENT, LIBRARY_LOGGER, LibraryWarningsToToasts
from puppet_master.drags import drag_tensor, parse_drag_document
from support import REPO

STRETCHED = {"version": 1, "width": 512, "height": 512, "drags": [{"points": [[256, 300], [256, 200]]}]}


@pytest.fixture
def sent() -> Iterator[tuple[list, dict]]:
    """The events the handler sends, and the node it is told is running (change state["node"] to move on)."""
    events: list = []
    state = {"node": "4"}
    handler = LibraryWarningsToToasts(lambda *event: events.append(event), lambda: state["node"], lambda: "client-1")
    logger = logging.getLogger(LIBRARY_LOGGER)
    logger.addHandler(handler)
    try:
        yield events, state
    finally:
        logger.removeHandler(handler)


def test_a_stretched_document_is_told_to_the_client_naming_the_node(sent):
    events, _ = sent
    parse_drag_document(STRETCHED, image_size=(96, 80))
    [(event, data, client)] = events
    assert (event, data["node"], client) == (EVENT, "4", "client-1")
    assert data["message"].startswith("node 4: the drags were drawn on a 512x512 image but the image is 96x80: they")
    assert "stretched unevenly" in data["message"] and "redraw them" in data["message"]


def test_a_video_without_drags_is_told_to_the_client(sent):
    events, state = sent
    state["node"] = "7"
    drag_tensor(np.zeros((0, 14, 2)), 96, 80)
    assert [(data["node"], data["message"].split(":")[:2]) for _, data, _ in events] == [("7", ["node 7", " no drags"])]


def test_nothing_is_sent_outside_a_running_node_or_for_what_is_no_warning(sent):
    events, state = sent
    state["node"] = None
    parse_drag_document(STRETCHED, image_size=(96, 80))
    state["node"] = "4"
    parse_drag_document(STRETCHED, image_size=(512, 512))  # drawn on this image: nothing to say
    parse_drag_document(STRETCHED, image_size=(1024, 1024))  # the same shape: scaled evenly
    logging.getLogger(LIBRARY_LOGGER).info("an info line stays in the log")
    assert events == []


def test_a_failing_send_does_not_break_the_node_that_logged(sent, monkeypatch):
    def broken(*_: object) -> None:
        raise RuntimeError("websocket gone")

    handler = next(h for h in logging.getLogger(LIBRARY_LOGGER).handlers if isinstance(h, LibraryWarningsToToasts))
    monkeypatch.setattr(handler, "send", broken)
    monkeypatch.setattr(logging, "raiseExceptions", False)  # what handleError does in a deployed process
    assert parse_drag_document(STRETCHED, image_size=(96, 80)).width == 96


def test_the_frontend_extension_listens_to_the_event():
    assert f'const EVENT = "{EVENT}";' in (REPO / "web" / "toasts.js").read_text(encoding="utf-8")
