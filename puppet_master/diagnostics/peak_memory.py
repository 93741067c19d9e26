"""Peak memory of a block of code: max allocated on CUDA, else the resident set size sampled every 2 ms."""

from __future__ import annotations

import sys
import threading
import time

import torch

PAGE_SIZE = 4096


class PeakMemory:
    """Peak memory during a block: max allocated on CUDA, else resident set size sampled every 2 ms."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self.start = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self._running = True
            self.start = self.peak = _resident_bytes()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while self._running:
            self.peak = max(self.peak, _resident_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._running = False
            self._thread.join()
            self.peak = max(self.peak, _resident_bytes())

    @property
    def increase(self) -> int:
        """Peak above the memory held when the block started."""
        return max(self.peak - self.start, 0)


def _resident_bytes() -> int:
    """Current resident set size (Linux), the working set (Windows), else the peak so far (getrusage, macOS)."""
    try:
        with open("/proc/self/statm", encoding="utf-8") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except OSError:
        pass
    if sys.platform == "win32":
        return _windows_working_set()
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _windows_working_set() -> int:
    """The process's working set in bytes (kernel32's K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS)."""
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("page_fault_count", wintypes.DWORD)] + [
            (name, ctypes.c_size_t)
            for name in ("peak_working_set", "working_set", "quota_peak_paged", "quota_paged",
                         "quota_peak_non_paged", "quota_non_paged", "pagefile", "peak_pagefile")
        ]  # fmt: skip

    counters = Counters(cb=ctypes.sizeof(Counters))
    kernel32 = ctypes.WinDLL("kernel32")
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    if not kernel32.K32GetProcessMemoryInfo(kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb):
        raise OSError(ctypes.get_last_error(), "K32GetProcessMemoryInfo failed")
    return counters.working_set
