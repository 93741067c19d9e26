"""Messages for the person at the browser, not only the server console: a websocket event that the pack's
frontend extension (web/toasts.js) shows as a toast.

Two kinds travel on it: the on-prompt check's "this is a Puppet-Master checkpoint, use Puppet-Master Loader"
(nodes/wrong_loader.py), and the library's warnings while one of our nodes runs (drags drawn on an image of
another shape and stretched unevenly, a video generated without any drag). The library never imports ComfyUI:
it logs those on the "puppet_master" logger, and `LibraryWarningsToToasts` forwards each one to the client
whose prompt is running, naming the node. The log keeps them as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .comfy_env import executing_node_id, prompt_server

EVENT = "puppet_master.toast"
"""The websocket event web/toasts.js turns into a toast: data {"node": node id, "message": text}."""
LIBRARY_LOGGER = "puppet_master"
"""The logger the library's warnings go to (puppet_master/drags.py)."""

Send = Callable[[str, dict, str | None], None]
"""PromptServer.send_sync(event, data, client_id)."""


class LibraryWarningsToToasts(logging.Handler):
    """Each library warning logged while a node runs, as a toast to the client that queued the prompt."""

    def __init__(self, send: Send, running_node: Callable[[], str | None], client: Callable[[], str | None]):
        """`running_node()`: the id of the node executing now (None outside a run); `client()`: the id of the
        client whose prompt is executing (PromptServer.client_id)."""
        super().__init__(level=logging.WARNING)
        self.send, self.running_node, self.client = send, running_node, client

    def emit(self, record: logging.LogRecord) -> None:
        node = self.running_node()
        if node is None:  # not inside a node of a running prompt: nobody to tell but the log
            return
        try:
            message = f"node {node}: {record.getMessage()}"
            self.send(EVENT, {"node": node, "message": message}, self.client())
        except Exception:  # a logging handler must never break the node that logged
            self.handleError(record)


def install() -> bool:
    """Forward the library's warnings to the running ComfyUI's clients; False where there is no server (tests,
    scripts). Installed once (ComfyUI loads the pack once; a second call finds the handler in place)."""
    server = prompt_server()
    if server is None:
        return False
    logger = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(handler, LibraryWarningsToToasts) for handler in logger.handlers):
        logger.addHandler(LibraryWarningsToToasts(server.send_sync, executing_node_id, lambda: server.client_id))
    return True
