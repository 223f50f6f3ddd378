"""The process's resident memory, and handing freed memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux ``/proc``); None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_free_memory() -> bool:
    """Return the heap's free pages to the system (glibc ``malloc_trim``): threads' allocator arenas keep
    what a burst of concurrent work freed, which then shows as resident memory until trimmed. True if done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
