"""Bytes moved from file to file by the kernel (copy_file_range, else sendfile), never
through this process's memory: a stored value's buffers going to a data store or a cache
file, a data store's file coming back into the cache."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cellpipe.cache.values import Backing
from cellpipe.cache.values.backing import _give_back, pwrite_all  # MADV_DONTNEED

_CHUNK = 1 << 30  # bytes asked of the kernel per call
_BUFFER = 8 << 20  # the last resort copies through a buffer of this size
# copy_file_range refuses these pairs (across file systems, a memfd, an old kernel)
_NOT_HERE = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF,
             errno.EPERM}


def copy_range(src: int, src_offset: int, dst: int, dst_offset: int, count: int) -> None:
    """Copy count bytes of file src from src_offset into file dst at dst_offset."""
    done = _copy_file_range(src, src_offset, dst, dst_offset, count)
    if done < count:
        done += _sendfile(src, src_offset + done, dst, dst_offset + done, count - done)
    if done < count:
        buf = bytearray(min(_BUFFER, count - done))
        while done < count:
            n = os.preadv(src, [memoryview(buf)[:count - done]], src_offset + done)
            if n == 0:
                raise OSError(f"short copy ({done} of {count} bytes): the source is shorter")
            pwrite_all(dst, memoryview(buf)[:n], dst_offset + done)
            done += n


def _copy_file_range(src: int, src_offset: int, dst: int, dst_offset: int, count: int) -> int:
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return 0
    return _by_kernel(lambda at, n: copy(src, dst, n, src_offset + at, dst_offset + at), count)


def _sendfile(src: int, src_offset: int, dst: int, dst_offset: int, count: int) -> int:
    if not hasattr(os, "sendfile"):
        return 0
    os.lseek(dst, dst_offset, os.SEEK_SET)  # sendfile writes at dst's position
    return _by_kernel(lambda at, n: os.sendfile(dst, src, src_offset + at, n), count)


def _by_kernel(step: Any, count: int) -> int:
    """Call step(done, n) until count bytes are copied; the bytes done when the kernel
    refuses this way of copying (the caller goes on another way)."""
    done = 0
    while done < count:
        try:
            n = step(done, min(count - done, _CHUNK))
        except OSError as exc:
            if exc.errno in _NOT_HERE:
                break
            raise
        if n == 0:
            break
        done += n
    return done


_GIVE_BACK_CHUNK = 32 << 20


def write_all(fd: int, data: Any, offset: int, give_back: bool = False) -> int:
    """pwrite a bytes-like whole at offset; return the offset after it.

    give_back: the caller holds data's memory alone and never reads it again (a task
    process storing its result): each chunk's pages go back to the system once written,
    so the file's new page cache reuses them instead of touching fresh memory (on a VM,
    fresh pages cost several times what recycled ones do)."""
    view = memoryview(data).cast("B")
    if not give_back or view.readonly:
        pwrite_all(fd, view, offset)
        return offset + view.nbytes
    for start in range(0, view.nbytes, _GIVE_BACK_CHUNK):
        chunk = view[start:start + _GIVE_BACK_CHUNK]
        pwrite_all(fd, chunk, offset + start)
        _give_back(chunk)
    return offset + view.nbytes


@contextmanager
def backing_fd(backing: Backing) -> Iterator[int]:
    """A descriptor of the file holding a Backing's buffers (its memfd, or its cache file
    opened and checked unchanged since its content was verified)."""
    if isinstance(backing.source, int):
        yield backing.source
        return
    fd = os.open(backing.source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if backing.stamp is not None and \
                (st.st_ino, st.st_size, st.st_mtime_ns) != backing.stamp:
            raise OSError(f"{backing.source} changed on disk since it was verified")
        yield fd
    finally:
        os.close(fd)


def copy_buffers(backing: Backing, dst: int, offsets: list[int]) -> None:
    """Copy each buffer of backing into dst at the matching offset, by the kernel."""
    with backing_fd(backing) as src:
        for src_off, size, dst_off in zip(backing.offsets, backing.sizes, offsets, strict=True):
            copy_range(src, src_off, dst, dst_off, size)
