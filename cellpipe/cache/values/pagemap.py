"""Copy-on-write mappings of stored values, and which of their pages a consumer wrote
(/proc/self/pagemap): an unwritten buffer is known without hashing it."""

from __future__ import annotations

import mmap
import os
import sys

# --- copy-on-write mappings: which pages a consumer wrote -------------------------------
# Each private mapping of a stored value is registered here. A page of such a mapping that
# was never written is either absent or the shared page of the memfd or file; a written page
# is the process's own anonymous copy. /proc/self/pagemap tells which (bit 61: file or
# shared page, bit 63: present, bit 62: swapped), so an unwritten buffer is recognised by
# reading 8 bytes per page instead of hashing 4096.
MAPPINGS: dict[int, tuple[int, int]] = {}


_PAGEMAP: list[int] = []  # the open /proc/self/pagemap, or [-1] where it cannot be read


def register_mapping(mapping: mmap.mmap, size: int) -> None:
    import ctypes
    import weakref

    if _pagemap_fd() < 0:
        return
    view = (ctypes.c_char * size).from_buffer(mapping)
    start = ctypes.addressof(view)
    del view
    key = id(mapping)
    MAPPINGS[key] = (start, start + size)
    weakref.finalize(mapping, MAPPINGS.pop, key, None)


def _pagemap_fd() -> int:
    if not _PAGEMAP:
        try:
            fd = os.open("/proc/self/pagemap", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            os.pread(fd, 8, 0)
        except OSError:
            fd = -1
        _PAGEMAP.append(fd)
    return _PAGEMAP[0]


def clean_token(raw: memoryview) -> str | None:
    """'clean:<address>:<size>' if raw lies in a registered mapping and none of its pages
    was written, else None."""

    np = sys.modules.get("numpy")
    if np is None or raw.nbytes == 0:
        return None
    try:
        start = int(np.frombuffer(raw, dtype=np.uint8).__array_interface__["data"][0])
    except (TypeError, ValueError):
        return None
    end = start + raw.nbytes
    if not any(lo <= start and end <= hi for lo, hi in list(MAPPINGS.values())) and \
            not _in_sealed_region(start, end):
        return None
    page = mmap.PAGESIZE
    first, last = start // page, (end - 1) // page
    try:
        entries = os.pread(_pagemap_fd(), (last - first + 1) * 8, first * 8)
    except OSError:
        return None
    flags = np.frombuffer(entries, dtype=np.uint64)
    present = (flags >> np.uint64(63)) & np.uint64(1)
    swapped = (flags >> np.uint64(62)) & np.uint64(1)
    shared = (flags >> np.uint64(61)) & np.uint64(1)
    if len(flags) != last - first + 1 or bool(np.any((present & (shared ^ np.uint64(1)))
                                                     | swapped)):
        return None
    return f"clean:{start}:{raw.nbytes}"


def _in_sealed_region(start: int, end: int) -> bool:
    """Whether [start, end) lies in a sealed memfd region (alloc.py): a copy-on-write
    mapping of a stored value too."""
    from cellpipe.cache.values import alloc

    region = alloc.region_of(start)
    return region is not None and region.sealed == 1 and end <= region.base + region.size


def watched() -> bool:
    """Whether any mapping may hold clean buffers (else clean_token is always None)."""
    if MAPPINGS:
        return True
    from cellpipe.cache.values import alloc

    return alloc.regions_made() > 0


def mapping_clean(mapping: mmap.mmap, size: int) -> bool:
    """Whether no page of a registered private mapping was written (or swapped out)."""
    entry = MAPPINGS.get(id(mapping))
    if entry is None:
        return False
    start, end = entry
    view = memoryview(mapping)
    try:
        return clean_token(view.cast("B")) is not None and end - start == size
    finally:
        view.release()
