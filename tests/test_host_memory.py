"""Freed host memory kept for reuse while the UNet runs on the CPU: page faults, giving memory back, scoping.

Page faults and resident memory depend on everything the process allocated before, so they are measured in a
fresh interpreter (`MEASUREMENTS`, run once per session); the bookkeeping is checked in this process.
"""

import json
import platform
import subprocess
import sys

import pytest
import torch

from puppet_master.host_memory import reuse_freed_host_memory, reusing_freed_host_memory
from puppet_master.sampler_settings import SamplerSettings
from puppet_master.sampling import sample
from support import REPO, random_drags

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the setting is glibc's malloc (mallopt); elsewhere reuse_freed_host_memory is a no-op",
)
BUFFER_BYTES = 64 << 20
"""Above glibc's largest adaptive mmap threshold (32 MB): outside the block every such buffer is a new mmap."""
MEASUREMENTS = r"""
import json, resource, statistics, sys, threading
import torch
from puppet_master.host_memory import reuse_freed_host_memory, reusing_freed_host_memory

BUFFER_BYTES = int(sys.argv[1])
ELEMENTS = BUFFER_BYTES // 4
PAGE = resource.getpagesize()


def faults_per_buffer(buffers=4):
    # A 256 MB buffer written and freed, then 64 MB ones (posix_memalign cannot reuse a hole of exactly its own
    # size for the next aligned request of that size); the sequence runs twice and the second is counted, so
    # pages an earlier malloc_trim released are touched once in the first.
    for _ in range(2):
        torch.empty(4 * ELEMENTS).fill_(1.0)
        faults = []
        for _ in range(buffers):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            torch.empty(ELEMENTS).fill_(1.0)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return statistics.median(faults) / (BUFFER_BYTES // PAGE)


def resident():
    with open("/proc/self/statm", encoding="utf-8") as statm:
        return int(statm.read().split()[1]) * PAGE


report = {"outside": faults_per_buffer()}
with reuse_freed_host_memory():
    report["inside"] = faults_per_buffer()
before = resident()
with reuse_freed_host_memory():
    torch.empty(4 * ELEMENTS).fill_(1.0)
    report["kept"] = (resident() - before) / BUFFER_BYTES
report["given_back"] = (resident() - before) / BUFFER_BYTES

entered, release = threading.Event(), threading.Event()


def other_user():
    with reuse_freed_host_memory():
        entered.set()
        release.wait(timeout=60)


thread = threading.Thread(target=other_user)
thread.start()
entered.wait(timeout=60)
with reuse_freed_host_memory():
    with reuse_freed_host_memory():
        pass
    report["on_after_nested_exit"] = reusing_freed_host_memory()
report["on_after_main_left"] = reusing_freed_host_memory()
report["main_left_other_inside"] = faults_per_buffer()
release.set()
thread.join()
report["on_after_all_left"] = reusing_freed_host_memory()
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def measured() -> dict:
    """Minor page faults per fresh 64 MB buffer as a share of its pages, and resident memory in buffers."""
    result = subprocess.run(
        [sys.executable, "-c", MEASUREMENTS, str(BUFFER_BYTES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True, encoding="utf-8",
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@glibc_only
def test_freed_buffers_are_reused_inside_and_fresh_pages_outside_the_block(measured):
    assert measured["outside"] > 0.5, f"{measured['outside']:.0%} of a buffer's pages faulted outside the block"
    assert measured["inside"] < 0.02, f"{measured['inside']:.1%} of a reused buffer's pages faulted in"


@glibc_only
def test_leaving_hands_the_kept_memory_back(measured):
    assert measured["kept"] > 3, f"only {measured['kept']:.1f} of 4 freed buffers kept inside the block"
    assert measured["given_back"] < 0.5, f"{measured['given_back']:.1f} buffers still resident after leaving"


@glibc_only
def test_the_setting_lasts_until_the_last_user_leaves(measured):
    assert measured["on_after_nested_exit"] and measured["on_after_main_left"]
    assert measured["main_left_other_inside"] < 0.02, "undone while another thread was still inside"
    assert measured["on_after_all_left"] is False


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
