"""This process's resident memory, and handing freed memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys


def rss_bytes() -> int | None:
    """Resident set size of this process now (None where it cannot be read)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


def rss_mib() -> float | None:
    """Resident set size in MiB, one decimal (None where it cannot be read)."""
    rss = rss_bytes()
    return None if rss is None else round(rss / 2**20, 1)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _mallopt(param: int, value: int) -> None:
    """glibc's ``mallopt``; nothing where the C library is not glibc."""
    libc = _libc()
    if libc is not None:
        try:
            libc.mallopt(param, value)
        except AttributeError:  # not glibc
            pass


M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter: the most heaps (arenas) malloc keeps for threads."""


def limit_heap_arenas(arenas: int = 2) -> None:
    """Let glibc's malloc keep at most ``arenas`` heaps. Each model thread otherwise gets a heap of
    its own, whose freed pages stay scattered and mostly unreturnable; with few heaps, memory freed
    by an unloaded model goes back to the system (``--idle_unload``)."""
    _mallopt(M_ARENA_MAX, arenas)


M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter: blocks of at least this many bytes get a mapping of their own."""


def map_large_blocks(threshold: int = 2**20) -> None:
    """Give every block of ``threshold`` bytes or more a mapping of its own, returned to the system when
    freed. glibc otherwise raises that bound to the size of each large block freed (up to 32 MiB), after
    which blocks of that size come from the heaps: an allocator that frees and takes back big regions
    (an ONNX Runtime arena being shrunk) then leaves them there, scattered, and resident memory creeps up."""
    _mallopt(M_MMAP_THRESHOLD, threshold)


def release_free_memory() -> bool:
    """Return the heap's free pages to the system (glibc ``malloc_trim``): threads' allocator arenas keep
    what a burst of concurrent work freed, which then shows as resident memory until trimmed. True if done."""
    libc = _libc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except AttributeError:  # not glibc (musl has no malloc_trim)
        return False
    return True


def release_freed_memory() -> None:
    """After a model's objects were dropped: collect garbage, empty PyTorch's CUDA cache when it is in
    use, and return the C heap's free pages to the system."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
        except Exception:
            pass
    release_free_memory()
