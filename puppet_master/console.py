"""What the command line prints besides its own lines: the library's warnings, and not the third-party
messages that say nothing to its user.

Hidden while a command runs (`quiet_third_party`): transformers' progress bars ("Loading weights", "Writing
model shards": per-file bars of a few megabytes to gigabytes that the generation's own lines already cover)
and the messages in `NOISE`, about code paths the library does not take. The Hugging Face hub's download
bars, every error and every other warning still show.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = (
    ("transformers.utils.import_utils", "requires torchvision (not installed); falling back to"),
)  # fmt: skip
"""(logger, part of the message) of each dropped record. transformers warns that its CLIPImageProcessor
falls back to the Pillow one when diffusers' SVD module imports it; the library never uses that processor
(it resizes and normalises the CLIP input itself)."""


def show_library_warnings() -> None:
    """The library's warnings (drags stretched to another image shape, no drags) on stderr, once.

    Called by the process entry (`python -m puppet_master`), not by `main`, so that calling `main` from
    Python leaves the caller's logging as it was."""
    logger = logging.getLogger("puppet_master")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def _is_signal(record: logging.LogRecord) -> bool:
    """False for the records of `NOISE`; a filter keeps every other record."""
    message = record.getMessage()
    return not any(record.name == name and part in message for name, part in NOISE)


@contextmanager
def quiet_third_party() -> Iterator[None]:
    """Within the block, `NOISE` is dropped and transformers' progress bars are hidden; both are restored on
    leaving, so a Python caller of the command line finds its logging and bars as they were."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as transformers_logging

    loggers = [logging.getLogger(name) for name, _ in NOISE]
    bars_shown, hub_bars_shown = transformers_logging.is_progress_bar_enabled(), not are_progress_bars_disabled()
    for logger in loggers:
        logger.addFilter(_is_signal)
    transformers_logging.disable_progress_bar()  # this also turns the hub's bars off ...
    if hub_bars_shown:
        enable_progress_bars()  # ... which stay on: a first run downloads several GB
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(_is_signal)
        if bars_shown:
            transformers_logging.enable_progress_bar()
        if not hub_bars_shown and not are_progress_bars_disabled():
            disable_progress_bars()
