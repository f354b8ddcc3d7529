"""Out-of-band buffers kept once, in a memfd or a cache file, mapped copy-on-write by
each consumer: reading costs no copy, and no consumer's write reaches the stored value."""

from __future__ import annotations

import mmap
import os
import sys
from typing import Any

import xxhash

from cellpipe.cache.values.fingerprint import CHUNK, fingerprint_parts, in_pool
from cellpipe.cache.values.pagemap import mapping_clean, register_mapping


class Backing:
    """Out-of-band buffers of one value kept once, in a file: a memfd (memory) or a cache
    file on disk. Consumers map it privately: reading costs no copy, and the pages a
    consumer writes become its own (copy-on-write), so no write reaches the stored value."""

    def __init__(self, source: int | str, size: int, offsets: list[int],
                 sizes: list[int], stamp: tuple[int, int, int] | None = None) -> None:
        self.source = source  # an open memfd (owned) or a file path
        self.size = size
        self.offsets = offsets
        self.sizes = sizes
        self.stamp = stamp  # a file's (inode, size, mtime_ns) when its content was verified
        self._spare: mmap.mmap | None = None  # the last private mapping handed out

    @classmethod
    def in_memory(cls, parts: list[memoryview], move: bool = False) -> Backing:
        """One copy of parts in a new memfd (written with pwrite: never mapped here).

        move: the caller owns parts' memory alone and drops it afterwards; each chunk's pages
        are given back as soon as they are copied, so moving a value never holds it twice."""
        offsets, size = buffer_layout(0, [p.nbytes for p in parts])
        fd = os.memfd_create("cellpipe-value", os.MFD_CLOEXEC)
        if size >= _HUGE_COPY_MIN and _copy_through_huge_pages():
            try:
                _copy_mapped(fd, size, parts, offsets, move)
            except BaseException:
                os.close(fd)
                raise
            return cls(fd, size, offsets, [p.nbytes for p in parts])
        try:
            try:  # pages allocated in one go: about twice as fast as page by page in pwrite
                if move:  # ...but a move allocates as it gives pages back: never two copies
                    raise OSError
                os.posix_fallocate(fd, 0, size)
            except OSError:
                os.ftruncate(fd, size)
            jobs = [(fd, part, off) for part, off in zip(parts, offsets, strict=True)]
            job = _move_job if move and _madvise() is not None else _pwrite_job
            if sum(p.nbytes for p in parts) > CHUNK and (os.cpu_count() or 1) > 1:
                in_pool(job, _chunked(jobs))
            else:
                for one in _chunked(jobs):
                    job(one)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, size, offsets, [p.nbytes for p in parts])

    @property
    def in_memory_bytes(self) -> int:
        return self.size if isinstance(self.source, int) else 0

    def views(self, private: bool = True) -> list[memoryview]:
        """The buffers, mapped: private (copy-on-write, writable) or shared read-only."""
        if self.size == 0:
            return [memoryview(b"") for _ in self.sizes]
        if private and self._spare is not None:
            spare = self._spare
            self._spare = None
            # nobody holds the last consumer's mapping any more, and it was never written:
            # it is as good as a new one, with its pages already mapped
            if sys.getrefcount(spare) == 2 and mapping_clean(spare, self.size):
                self._spare = spare
                whole = memoryview(spare)
                return [whole[o:o + n] for o, n in zip(self.offsets, self.sizes, strict=True)]
            del spare
        if private:
            flags, prot = mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE
        else:
            flags, prot = mmap.MAP_SHARED, mmap.PROT_READ
        if isinstance(self.source, int):
            mapping = mmap.mmap(self.source, self.size, flags=flags, prot=prot)
        else:
            with open(self.source, "rb") as f:
                st = os.fstat(f.fileno())
                if self.stamp is not None and (st.st_ino, st.st_size, st.st_mtime_ns) != self.stamp:
                    raise OSError(f"{self.source} changed on disk since it was verified")
                mapping = mmap.mmap(f.fileno(), self.size, flags=flags, prot=prot)
        if private:
            register_mapping(mapping, self.size)
            self._spare = mapping
        whole = memoryview(mapping)
        return [whole[o:o + n] for o, n in zip(self.offsets, self.sizes, strict=True)]

    def fingerprint(self, data: bytes) -> str:
        """fingerprint_parts(data, the buffers), read with pread through one reused buffer:
        mapping the memfd would count its pages twice in the process's RSS."""
        if not isinstance(self.source, int):
            views = self.views(private=False)
            try:
                return fingerprint_parts(data, views)
            finally:
                for view in views:
                    view.release()
        h = xxhash.xxh3_128(data)
        chunk = bytearray(min(CHUNK, max(self.sizes, default=0)))
        for offset, size in zip(self.offsets, self.sizes, strict=True):
            done = 0
            while done < size or size == 0:
                n = min(CHUNK, size - done)
                piece = memoryview(chunk)[:n]
                got = 0
                while got < n:
                    read = os.preadv(self.source, [piece[got:]], offset + done + got)
                    if read == 0:
                        raise OSError("a stored value is shorter than its layout")
                    got += read
                h.update(piece if size <= CHUNK else xxhash.xxh3_64_digest(piece))
                done += n
                if size == 0:
                    break
        return h.hexdigest()

    def __del__(self) -> None:
        if isinstance(self.source, int):
            try:
                os.close(self.source)
            except OSError:
                pass
            self.source = -1


_ALIGN = 64  # buffers start at this alignment (numpy and SIMD friendly)


def buffer_layout(start: int, sizes: list[int]) -> tuple[list[int], int]:
    """Aligned offsets for parts of these sizes from start; and the end."""
    offsets, pos = [], start
    for n in sizes:
        pos = -(-pos // _ALIGN) * _ALIGN
        offsets.append(pos)
        pos += n
    return offsets, pos


def _chunked(jobs: list[tuple[int, memoryview, int]]) -> list[tuple[int, memoryview, int]]:
    out = []
    for fd, part, off in jobs:
        for i in range(0, part.nbytes, CHUNK):
            out.append((fd, part[i:i + CHUNK], off + i))
    return out


def _pwrite_job(job: tuple[int, memoryview, int]) -> None:
    fd, part, off = job
    pwrite_all(fd, part.cast("B") if part.format != "B" or part.ndim != 1 else part, off)


def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    """pwrite view whole at offset (pwrite may write less than asked)."""
    while view.nbytes:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


_LIBC: list[Any] = []


def _madvise() -> Any:
    """libc's madvise, or None."""
    if not _LIBC:
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _LIBC.append(libc.madvise)
        except (OSError, AttributeError):
            _LIBC.append(None)
    return _LIBC[0]


def _move_job(job: tuple[int, memoryview, int]) -> None:
    """pwrite a chunk, then give its whole pages back to the system (MADV_DONTNEED)."""
    _pwrite_job(job)
    _give_back(job[1])


def _give_back(part: memoryview) -> None:
    """Give the whole pages of a moved chunk back to the system (MADV_DONTNEED)."""
    np = sys.modules.get("numpy")
    if np is None or part.readonly or _madvise() is None:
        return
    start = int(np.frombuffer(part, dtype=np.uint8).__array_interface__["data"][0])
    page = mmap.PAGESIZE
    lo, hi = -(-start // page) * page, (start + part.nbytes) // page * page
    if hi > lo:
        _madvise()(lo, hi - lo, getattr(mmap, "MADV_DONTNEED", 4))


_HUGE_COPY_MIN = 8 << 20
_HUGE: list[bool] = []


def _copy_through_huge_pages() -> bool:
    """Whether memfd pages are huge only for mappings that ask (shmem_enabled 'advise'):
    then a copy through such a mapping is several times faster than pwrite's 4 KiB pages."""
    if not _HUGE:
        from cellpipe.cache.values.alloc import shmem_huge_pages

        _HUGE.append(shmem_huge_pages() == "advise" and sys.modules.get("numpy") is not None
                     and hasattr(mmap, "MADV_HUGEPAGE"))
    return _HUGE[0] and sys.modules.get("numpy") is not None


_WINDOW = 4 << 20  # the memfd is mapped this much at a time (two huge pages)


def _copy_mapped(fd: int, size: int, parts: list[memoryview], offsets: list[int],
                 move: bool) -> None:
    """Copy parts into the memfd through shared mappings asking for huge pages, a window at
    a time (the memfd's pages never count in this process's RSS more than a window at
    once; windows in parallel: numpy's copy drops the GIL); moved parts' pages are given
    back as they are copied."""
    import numpy as np

    os.ftruncate(fd, size)
    windows: dict[int, list[tuple[memoryview, int]]] = {}  # window start -> (piece, offset)
    for part, off in zip(parts, offsets, strict=True):
        flat = part.cast("B") if part.format != "B" or part.ndim != 1 else part
        done = 0
        while done < flat.nbytes:
            at = off + done
            start = at // _WINDOW * _WINDOW
            n = min(flat.nbytes - done, start + _WINDOW - at)
            windows.setdefault(start, []).append((flat[done:done + n], at))
            done += n

    def copy(start: int) -> None:
        length = min(_WINDOW, size - start)
        mapping = mmap.mmap(fd, length, flags=mmap.MAP_SHARED,
                            prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
        try:
            mapping.madvise(mmap.MADV_HUGEPAGE)
            target = np.frombuffer(mapping, dtype=np.uint8)
            for piece, at in windows[start]:
                target[at - start:at - start + piece.nbytes] = np.frombuffer(piece, np.uint8)
                if move:
                    _give_back(piece)
            del target
        finally:
            mapping.close()

    starts = sorted(windows)
    if len(starts) > 1 and (os.cpu_count() or 1) > 1:
        in_pool(copy, starts)
    else:
        for start in starts:
            copy(start)


_BIG = 1 << 20


def fresh_copy(view: memoryview) -> Any:
    """A private, writable copy of a buffer. Large ones go to an anonymous mapping whose
    pages are populated up front (far fewer page faults than a fresh bytearray)."""
    view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    if view.nbytes < _BIG:
        return bytearray(view)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
    mapping = mmap.mmap(-1, view.nbytes, flags=flags)
    mapping[:] = view
    return mapping
