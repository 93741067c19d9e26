"""Freed host memory kept for reuse while the UNet runs on the CPU: page faults, giving memory back, scoping."""

import platform
import resource
import statistics
import threading

import pytest
import torch

from puppet_master.host_memory import reuse_freed_host_memory, reusing_freed_host_memory
from puppet_master.sampler_settings import SamplerSettings
from puppet_master.sampling import sample
from support import random_drags

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the setting is glibc's malloc (mallopt); elsewhere reuse_freed_host_memory is a no-op",
)
BUFFER_BYTES = 64 << 20
"""Above glibc's largest adaptive mmap threshold (32 MB): outside the block every such buffer is a new mmap."""
PAGE = resource.getpagesize()


def page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def faults_per_buffer(buffers: int = 4) -> float:
    """Median minor page faults of writing a fresh 64 MB buffer, after one of 256 MB was written and freed."""
    torch.empty(4 * BUFFER_BYTES // 4).fill_(1.0)
    faults = []
    for _ in range(buffers):
        before = page_faults()
        torch.empty(BUFFER_BYTES // 4).fill_(1.0)
        faults.append(page_faults() - before)
    return statistics.median(faults)


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@glibc_only
def test_freed_buffers_are_reused_inside_and_fresh_pages_outside_the_block():
    outside = faults_per_buffer()
    with reuse_freed_host_memory():
        inside = faults_per_buffer()
    pages = BUFFER_BYTES / PAGE
    assert outside > 0.5 * pages, f"{outside:.0f} faults per buffer outside: glibc no longer maps them anew?"
    assert inside < 0.02 * pages, f"{inside:.0f} page faults per reused buffer (a fresh one takes {pages:.0f})"


@glibc_only
def test_leaving_hands_the_kept_memory_back():
    before = resident_bytes()
    with reuse_freed_host_memory():
        buffer = torch.empty(4 * BUFFER_BYTES // 4).fill_(1.0)
        del buffer
        kept = resident_bytes() - before
    given_back = resident_bytes() - before
    assert kept > 3 * BUFFER_BYTES, f"only {kept >> 20} MB kept inside the block"
    assert given_back < BUFFER_BYTES // 2, f"{given_back >> 20} MB still resident after leaving the block"


@glibc_only
def test_the_setting_lasts_until_the_last_user_leaves():
    release = threading.Event()
    entered = threading.Event()

    def other_user():
        with reuse_freed_host_memory():
            entered.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=other_user)
    thread.start()
    try:
        entered.wait(timeout=60)
        with reuse_freed_host_memory():
            with reuse_freed_host_memory():
                pass
            assert reusing_freed_host_memory()
            assert faults_per_buffer() < 0.02 * BUFFER_BYTES / PAGE
        assert reusing_freed_host_memory(), "undone while another thread was still inside"
    finally:
        release.set()
        thread.join()
    assert not reusing_freed_host_memory()


def test_an_inactive_block_changes_nothing():
    with reuse_freed_host_memory(active=False):
        assert not reusing_freed_host_memory()


@glibc_only
@torch.no_grad()
def test_sampling_on_the_cpu_reuses_memory_unless_told_not_to(tiny_unet):
    frames, size = 4, 8
    generator = torch.Generator().manual_seed(3)
    inputs = (
        torch.randn(1, frames, 4, size, size, generator=generator),
        torch.randn(1, 4, size, size, generator=generator),
        torch.randn(1, 1, 32, generator=generator),
        random_drags(1, frames),
    )
    seen = {True: [], False: []}
    outputs = {}
    for reuse in (True, False):
        outputs[reuse] = sample(
            tiny_unet,
            *inputs,
            SamplerSettings(steps=2),
            callback=lambda *_, reuse=reuse: seen[reuse].append(reusing_freed_host_memory()),
            reuse_host_memory=reuse,
        )
    assert seen == {True: [True, True], False: [False, False]}
    assert not reusing_freed_host_memory()
    assert torch.equal(outputs[True], outputs[False])
