"""Giving freed memory back to the system.

A training run, a test pass or an embedding allocates and frees hundreds of MB of
tensors on worker threads. glibc keeps what was freed in its arenas for reuse, and each
new run's threads reuse it in a different layout, so the window's resident memory grew by
30-110 MB per run and never came back, although the memory Python and torch still held
stayed flat (measured: arenas 578 MB of which 339 MB free after 8 runs). ``malloc_trim``
returns the free pages: with it after each run, +2.5 MB per run instead of +31
(``benchmarks/memory.py``). Elsewhere than glibc (macOS, Windows, musl) there is nothing
to do: :func:`give_back_freed_memory` returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import linecache
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def give_back_freed_memory(collect: bool = False) -> bool:
    """Return the C heap's free pages to the system (``collect``: Python's cycles first, and
    the source lines that warnings and tracebacks read, ~45 MB of torch's sources after a
    first run). True when the allocator could be asked."""
    if collect:
        linecache.clearcache()
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
