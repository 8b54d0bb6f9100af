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
# Bytes: blocks this size and up get pages of their own. A trade of speed for memory: each such
# block's pages are faulted in afresh, where the heap would reuse them (but grow). The whole demo
# round of the 0.5B model (bench/demo_school_facts.py --recipe defaults, 118 steps, 2 cores) peaked
# at 3.86 GB with training at 74-80 tokens/s from 1 MB, at 4.67 GB and 92 tokens/s from 32 MB.
# bench/adapt.py (38 facts + 34 replay, 25 steps, one run each): 1 MB 108 tokens/s, 3.17 GB;
# 2 MB 129, 3.32; 3 MB 132, 3.27; 4 MB 146, 3.36; 8 MB 154, 3.62; 32 MB 139, 3.79. Most activations
# of a 448-token batch are 0.8-1.7 MB (hidden states, their fp32 copies), reused from the heap from
# 3 MB; the MLP's, attention's and logits' blocks above it still go back at once.
LARGE_ALLOCATION = 3 * 1024 * 1024


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
