"""Keep freed host memory in the process while the UNet runs on the CPU, so every step reuses mapped pages.

A CPU step allocates and frees hundreds of activation buffers of tens to hundreds of MB. glibc's malloc
serves each buffer above its mmap threshold (32 MB at most) with a fresh mmap and unmaps it when it is
freed, so every buffer is written into new pages that the kernel first faults in and zeroes: at full size
about 7.6 million page faults and a sixth of a step's CPU time. Inside `reuse_freed_host_memory`, malloc
serves every buffer from its heap (M_MMAP_MAX 0) and keeps what is freed (M_TRIM_THRESHOLD unlimited), so
later buffers land on pages already mapped. Leaving restores mmap and trimming and hands the freed memory
back to the system (malloc_trim), so the process is no larger afterwards.

The setting is process-wide: it is counted across threads and undone when the last user leaves. glibc keeps
one heap per thread; a thread other than the main one (ComfyUI's prompt worker) still gets buffers above
64 MB from mmap, so there the gain is partial (README: Benchmark). Off glibc (macOS, Windows, musl) this is
a no-op.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
KEEP_FREED = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))
"""No mmap for any buffer, and never trim the heap (-1 is glibc's SIZE_MAX for this parameter)."""
RESTORED = ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 64 << 20))
"""glibc's default mmap count, and the thresholds its adaptive rule reaches once a buffer of 32 MB or more
has been freed (which any generation does); setting any parameter stops the adaptation, so they are set."""

_lock = threading.Lock()
_users = 0


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _apply(settings: tuple[tuple[int, int], ...]) -> None:
    libc = _glibc()
    for parameter, value in settings:
        libc.mallopt(parameter, value)


def reusing_freed_host_memory() -> bool:
    """Whether some caller is inside `reuse_freed_host_memory` with the setting applied."""
    return _users > 0 and _glibc() is not None


@contextmanager
def reuse_freed_host_memory(active: bool = True) -> Iterator[None]:
    """Keep buffers that are freed inside the block in the process for reuse (see the module docstring).

    Args:
        active: False makes the block a no-op (callers pass whether the work runs on the CPU).
    """
    global _users
    if not active or _glibc() is None:
        yield
        return
    with _lock:
        _users += 1
        if _users == 1:
            _apply(KEEP_FREED)
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _apply(RESTORED)
                _glibc().malloc_trim(0)
