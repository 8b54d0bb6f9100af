"""The round's memory: hand freed heap back to the system between phases, and read the peak.

A round runs phases of very different shapes in one process (paraphrases on llama.cpp, the
anchor's forward passes, training, losses, generated answers). glibc's allocator keeps the pages
a phase freed for later allocations of the same sizes, and the next phase's differently-sized
tensors take fresh pages beside them, so without help the resident size only ever grows and the
peak is the sum of the phases, not the largest of them. `release()` collects Python garbage and
asks glibc (malloc_trim) to return free pages at the top of every arena; elsewhere (macOS,
Windows, musl) it only collects garbage.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys

M_MMAP_THRESHOLD = -3              # glibc's mallopt parameter number (malloc.h)
# Bytes: blocks this size and up get pages of their own. A trade of speed for memory, measured on
# the whole demo round of the 0.5B model (bench/demo_school_facts.py --recipe defaults, 118 steps,
# 2 cores): 1 MB peaks at 3.86 GB with training at 73.9 tokens/s; 32 MB at 4.67 GB, 92.2 tokens/s
# (every activation's pages are then reused instead of faulted in afresh, but the heap grows). A
# school's machine running out of memory is worse than a background round taking two minutes more.
LARGE_ALLOCATION = 1024 * 1024


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):   # not glibc (musl has no malloc_trim)
        return None
    return libc


def give_back_large_blocks() -> bool:
    """From now on, serve every block of LARGE_ALLOCATION bytes or more with its own pages, which
    go back to the system the moment the tensor is freed. glibc otherwise raises this threshold
    each time a large block is freed (up to 32 MB on 64-bit, after which even the largest blocks
    come from the heap), and a fixed threshold also ends that adjustment. Call once, early, in the
    round's own process; True where it took effect (glibc)."""
    libc = _glibc()
    return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION)) if libc is not None else False


def release() -> bool:
    """Collect garbage and return freed heap pages to the system; True when pages were trimmed."""
    gc.collect()
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far. VmHWM on Linux, not getrusage: ru_maxrss carries
    the parent's peak across fork + exec, and the round's parent (the app, a benchmark) may hold a
    model of its own. Elsewhere getrusage (macOS reports bytes); None without either."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def rss_mb() -> float | None:
    """The resident size now (Linux /proc; None elsewhere): the per-phase figures of a round's log."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import os

    return round(pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024), 1)


__all__ = ["give_back_large_blocks", "peak_rss_mb", "release", "rss_mb"]
