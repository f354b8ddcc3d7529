"""One variable of a cache entry: how it is kept, copied for a consumer, and fingerprinted.

Mutable objects are kept as pickle protocol 5 (cloudpickle) with out-of-band buffers. Big
buffers are copied once, into a memfd, and each consumer maps that memfd copy-on-write:
readers cost no copy, a writer's pages become its own. pandas objects (Copy-on-Write in
pandas 3) are kept as shallow copies and pickled only when written to disk. Immutables and
modules are shared; functions defined in the pipeline are re-bound to the consumer's
namespace; objects that cannot be pickled are shared by reference and make the entry not
cacheable.

Variables of one result that share objects (`holder = [x]`, `alias = x`, a graph holding
another variable's node) are kept together as one value, a 'group': one pickle of
{name: object} with one memo, so a consumer gets one object where the component had one.
The group is kept under its first name; the other names are 'member' values naming it.
"""

from __future__ import annotations

import importlib
import io
import mmap
import os
import pickle
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cloudpickle
import xxhash

_IMMUTABLE_SCALARS = (int, float, complex, str, bytes, bool, type(None), range)


def _is_immutable(obj: Any, depth: int = 0) -> bool:
    if isinstance(obj, _IMMUTABLE_SCALARS):
        return True
    if type(obj) in (tuple, frozenset) and depth < 3 and len(obj) < 1000:
        return all(_is_immutable(x, depth + 1) for x in obj)
    return False


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
        try:
            try:  # pages allocated in one go: about twice as fast as page by page in pwrite
                if move:  # ...but a move allocates as it gives pages back: never two copies
                    raise OSError
                os.posix_fallocate(fd, 0, size)
            except OSError:
                os.ftruncate(fd, size)
            jobs = [(fd, part, off) for part, off in zip(parts, offsets, strict=True)]
            job = _move_job if move and _madvise() is not None else _pwrite_job
            if sum(p.nbytes for p in parts) > _CHUNK and (os.cpu_count() or 1) > 1:
                _in_pool(job, _chunked(jobs))
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
            if sys.getrefcount(spare) == 2 and _mapping_clean(spare, self.size):
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
            _register_mapping(mapping, self.size)
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
        chunk = bytearray(min(_CHUNK, max(self.sizes, default=0)))
        for offset, size in zip(self.offsets, self.sizes, strict=True):
            done = 0
            while done < size or size == 0:
                n = min(_CHUNK, size - done)
                piece = memoryview(chunk)[:n]
                got = 0
                while got < n:
                    read = os.preadv(self.source, [piece[got:]], offset + done + got)
                    if read == 0:
                        raise OSError("a stored value is shorter than its layout")
                    got += read
                h.update(piece if size <= _CHUNK else xxhash.xxh3_64_digest(piece))
                done += n
                if size == 0:
                    break
        return h.hexdigest()

    def copy_into(self, out_fd: int, out_offset: int) -> None:
        """Copy the whole layout into out_fd at out_offset, by the kernel (sendfile): the
        bytes are never mapped into this process."""
        assert isinstance(self.source, int)
        os.lseek(out_fd, out_offset, os.SEEK_SET)
        done = 0
        try:
            while done < self.size:
                n = os.sendfile(out_fd, self.source, done, min(self.size - done, 1 << 30))
                if n == 0:
                    break
                done += n
        except OSError:
            os.lseek(out_fd, out_offset + done, os.SEEK_SET)
        chunk = bytearray(min(_CHUNK, max(self.size - done, 0)))
        while done < self.size:  # no sendfile here: through one reused buffer
            n = os.preadv(self.source, [memoryview(chunk)[: self.size - done]], done)
            if n == 0:
                raise OSError(f"short copy of a cached value ({done} of {self.size} bytes)")
            os.write(out_fd, memoryview(chunk)[:n])
            done += n

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
        for i in range(0, part.nbytes, _CHUNK):
            out.append((fd, part[i:i + _CHUNK], off + i))
    return out


def _pwrite_job(job: tuple[int, memoryview, int]) -> None:
    fd, part, off = job
    view = part.cast("B") if part.format != "B" or part.ndim != 1 else part
    while view.nbytes:
        n = os.pwrite(fd, view, off)
        view, off = view[n:], off + n


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
    import sys

    np = sys.modules.get("numpy")
    part = job[1]
    if np is None or part.readonly:
        return
    start = int(np.frombuffer(part, dtype=np.uint8).__array_interface__["data"][0])
    page = mmap.PAGESIZE
    lo, hi = -(-start // page) * page, (start + part.nbytes) // page * page
    if hi > lo:
        _madvise()(lo, hi - lo, getattr(mmap, "MADV_DONTNEED", 4))


def move_array(name: str, arr: Any) -> StoredValue | None:
    """Store a big numpy array that nothing but its namespace holds, by moving its bytes into
    the memfd (the caller then binds the stored copy instead): never two copies at once.
    None when it does not qualify (small, not contiguous...)."""
    if not _HAVE_MEMFD or arr.nbytes < _SHARE_MIN or arr.dtype.hasobject:
        return None
    try:
        data, pbuffers = pickle_parts(arr)
    except Exception:  # noqa: BLE001
        return None
    raws = [b.raw() for b in pbuffers]
    try:
        if len(raws) != 1 or raws[0].nbytes != arr.nbytes:
            return None
        return StoredValue("pickle", None, data=data, type_name=_type_name(arr),
                           backing=Backing.in_memory(raws, move=True))
    finally:
        for b in pbuffers:
            b.release()


class StoredValue:
    """A variable as kept in a cache entry.

    kind: 'immutable' (value shared), 'module' (module name), 'function' (a function bound to
    the run namespace, re-bound on load), 'pickle' (data + buffers, each consumer gets its
    own object), 'frame' (a pandas object without Python-object columns, kept as a
    Copy-on-Write shallow copy; pickled only when written), 'shared' (unpicklable: the
    live object, shared by reference, never persisted), 'group' (a pickle of {name: value}
    for variables that share objects, kept under the first name) or 'member' (another
    name of a group: data is the group's name; see load_values).

    Buffers live in `buffers` (small values), or once in `backing` (big ones).
    """

    def __init__(self, kind: str, fingerprint: str | None, value: Any = None,
                 data: bytes = b"", buffers: list[Any] | None = None, type_name: str = "",
                 reason: str = "", backing: Backing | None = None) -> None:
        self.kind = kind
        self._fingerprint = fingerprint
        self.value = value
        self._data = data
        self._buffers = list(buffers) if buffers is not None else None
        self.type_name = type_name
        self.reason = reason
        self.backing = backing
        self.refs: dict[int, Any] | None = None  # objects it refers to (shared_groups)

    def __repr__(self) -> str:
        return f"StoredValue({self.kind!r}, {self.type_name!r}, {self.nbytes} bytes)"

    @property
    def serializer(self) -> str:
        """How the value is written: a frame is a pickle on disk."""
        return "pickle" if self.kind == "frame" else self.kind

    def parts(self) -> tuple[bytes, list[Any]]:
        """(pickle data, buffers) to write this value out: buffers are bytes-likes, or the
        Backing itself (copy it with Backing.copy_into)."""
        if self.kind == "frame":
            data, pbuffers = pickle_parts(self.value)
            if self._fingerprint is None:
                self._fingerprint = fingerprint_parts(data, pbuffers)
            return data, [b.raw() for b in pbuffers]
        if self.backing is not None:
            return self._data, [self.backing]
        return self._data, list(self._buffers or [])

    @property
    def fingerprint(self) -> str | None:
        """Content hash of the value's parts (taken on first use for big values)."""
        if self._fingerprint is None and self.kind == "frame":
            self.parts()
        elif self._fingerprint is None and self.backing is not None:
            self._fingerprint = self.backing.fingerprint(self._data)
        return self._fingerprint

    @fingerprint.setter
    def fingerprint(self, value: str | None) -> None:
        self._fingerprint = value

    @property
    def data(self) -> bytes:
        return self.parts()[0] if self.kind == "frame" else self._data

    @data.setter
    def data(self, value: bytes) -> None:
        self._data = value

    @property
    def buffers(self) -> list[Any]:
        """The out-of-band buffers as bytes-likes (big ones mapped read-only)."""
        if self.kind == "frame":
            return self.parts()[1]
        if self.backing is not None:
            return self.backing.views(private=False)
        return list(self._buffers or [])

    @buffers.setter
    def buffers(self, value: list[Any]) -> None:
        self._buffers = list(value)
        self.backing = None

    @property
    def nbytes(self) -> int:
        """Bytes this value holds in memory (a file on disk counts nothing; a frame counts
        its arrays, which it shares with the run until one of them is written)."""
        if self.kind == "frame":
            try:
                return int(self.value.memory_usage(deep=False, index=True).sum()) \
                    if hasattr(self.value, "columns") else int(self.value.nbytes)
            except Exception:  # noqa: BLE001 - an estimate only
                return 0
        held = len(self._data) + sum(memoryview(b).nbytes for b in self._buffers or [])
        return held + (self.backing.in_memory_bytes if self.backing is not None else 0)

    @property
    def persistable(self) -> bool:
        return self.kind != "shared"


def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def pickle_parts(obj: Any, memo: list[dict[int, Any]] | None = None,
                 ) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """Pickle obj (protocol 5) keeping large buffers out of band, uncopied.

    The C pickler is several times faster than cloudpickle on many small objects; its
    result is used unless it refers to `__main__` (classes, functions or lambdas defined
    in the notebook), which only cloudpickle keeps by value.

    memo: a list that receives the pickler's memo, {id(object): (index, object)} for every
    object the pickle refers to more than by value (see shared_groups)."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        if memo is None:
            data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        else:
            with io.BytesIO() as f:
                pickler = pickle.Pickler(f, protocol=5, buffer_callback=buffers.append)
                pickler.dump(obj)
                data = f.getvalue()
        if b"__main__" not in data:
            if memo is not None:
                memo.append(_memo_of(pickler, data))
            return data, buffers
    except Exception:  # lambdas, local classes...: cloudpickle may still manage
        pass
    buffers = []
    if memo is None:
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        return data, buffers
    with io.BytesIO() as f:
        cpickler = cloudpickle.CloudPickler(f, protocol=5, buffer_callback=buffers.append)
        cpickler.dump(obj)
        data = f.getvalue()
    memo.append(_memo_of(cpickler, data))
    return data, buffers


_MEMO_MAX = 4 << 20  # pickles longer than this are checked for shared objects at the top only


def _memo_of(pickler: pickle.Pickler, data: bytes) -> dict[int, Any]:
    """The pickler's memo ({id: (index, object)}); {} above _MEMO_MAX bytes of pickle (a
    copy costs about as much as the pickling). The garbage collector is held meanwhile:
    it would otherwise walk the whole value for each batch of the memo's new tuples."""
    if len(data) > _MEMO_MAX:
        return {}
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickler.memo.copy()
    finally:
        if enabled:
            gc.enable()


_CHUNK = 32 << 20  # buffers above this are hashed in parallel chunks (xxhash drops the GIL)
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                   thread_name_prefix="cellpipe-hash")
    return _POOL


def _in_pool(fn: Any, items: list[Any]) -> list[Any]:
    """fn over items on the pool, in order; in this thread once the interpreter is exiting
    (a kernel finishing its cache writes at exit can no longer start pool work)."""
    try:
        return list(_pool().map(fn, items))
    except RuntimeError:
        return [fn(item) for item in items]


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


def _chunk_digest(view: memoryview) -> bytes:
    return xxhash.xxh3_64_digest(view)


def fingerprint_parts(data: bytes, buffers: list[Any], clean_ok: bool = False) -> str:
    """A fast content hash (xxh3) of a pickle and its out-of-band buffers.

    clean_ok: a buffer that lies in a copy-on-write mapping of a stored value and has not been
    written since (see _clean_token) counts by its place instead of its bytes. Such a
    fingerprint only tells whether a value changed; it is not a content hash."""
    h = xxhash.xxh3_128(data)
    for buf in buffers:
        raw = buf.raw() if isinstance(buf, pickle.PickleBuffer) else memoryview(buf).cast("B")
        token = _clean_token(raw) if clean_ok and _MAPPINGS else None
        if token is not None:
            h.update(token.encode())
            continue
        if raw.nbytes <= _CHUNK:
            h.update(raw)
            continue
        # the same pieces on any machine (the cache verifies files with this hash)
        chunks = [raw[i:i + _CHUNK] for i in range(0, raw.nbytes, _CHUNK)]
        for digest in _in_pool(_chunk_digest, chunks):
            h.update(digest)
    return h.hexdigest()


def fingerprint(obj: Any, namespace: dict[str, Any] | None = None,
                clean_ok: bool = False) -> str | None:
    """Content hash of obj, or None when it cannot be pickled (mutation cannot be seen).
    clean_ok: see fingerprint_parts."""
    if isinstance(obj, types.ModuleType):
        return "module:" + obj.__name__
    if _is_function_of(obj, namespace):
        return "function:" + str(id(obj.__code__))
    try:
        data, buffers = pickle_parts(obj)
    except Exception:
        return None
    return fingerprint_parts(data, buffers, clean_ok)


# --- copy-on-write mappings: which pages a consumer wrote -------------------------------
# Each private mapping of a stored value is registered here. A page of such a mapping that
# was never written is either absent or the shared page of the memfd or file; a written page
# is the process's own anonymous copy. /proc/self/pagemap tells which (bit 61: file or
# shared page, bit 63: present, bit 62: swapped), so an unwritten buffer is recognised by
# reading 8 bytes per page instead of hashing 4096.
_MAPPINGS: dict[int, tuple[int, int]] = {}
_PAGEMAP: list[int] = []  # the open /proc/self/pagemap, or [-1] where it cannot be read


def _register_mapping(mapping: mmap.mmap, size: int) -> None:
    import ctypes
    import weakref

    if _pagemap_fd() < 0:
        return
    view = (ctypes.c_char * size).from_buffer(mapping)
    start = ctypes.addressof(view)
    del view
    key = id(mapping)
    _MAPPINGS[key] = (start, start + size)
    weakref.finalize(mapping, _MAPPINGS.pop, key, None)


def _pagemap_fd() -> int:
    if not _PAGEMAP:
        try:
            fd = os.open("/proc/self/pagemap", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            os.pread(fd, 8, 0)
        except OSError:
            fd = -1
        _PAGEMAP.append(fd)
    return _PAGEMAP[0]


def _clean_token(raw: memoryview) -> str | None:
    """'clean:<address>:<size>' if raw lies in a registered mapping and none of its pages
    was written, else None."""
    import sys

    np = sys.modules.get("numpy")
    if np is None or raw.nbytes == 0:
        return None
    try:
        start = int(np.frombuffer(raw, dtype=np.uint8).__array_interface__["data"][0])
    except (TypeError, ValueError):
        return None
    end = start + raw.nbytes
    if not any(lo <= start and end <= hi for lo, hi in list(_MAPPINGS.values())):
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


def _mapping_clean(mapping: mmap.mmap, size: int) -> bool:
    """Whether no page of a registered private mapping was written (or swapped out)."""
    entry = _MAPPINGS.get(id(mapping))
    if entry is None:
        return False
    start, end = entry
    view = memoryview(mapping)
    try:
        return _clean_token(view.cast("B")) is not None and end - start == size
    finally:
        view.release()


def _is_function_of(obj: Any, namespace: dict[str, Any] | None) -> bool:
    return (
        namespace is not None
        and isinstance(obj, types.FunctionType)
        and obj.__globals__ is namespace
    )


_SHARE_MIN = 1 << 20  # buffers of a value totalling this much are kept once, in a memfd
_HAVE_MEMFD = hasattr(os, "memfd_create") and hasattr(os, "sendfile")


def _cow_frame(obj: Any) -> bool:
    """Whether obj is a pandas DataFrame/Series that Copy-on-Write protects whole: pandas
    >= 3 (CoW always on) and no numpy object column (whose elements could be mutable)."""
    module = type(obj).__module__
    if module.partition(".")[0] != "pandas" or _PANDAS_COW is False:
        return False
    import pandas as pd

    if type(obj) not in (pd.DataFrame, pd.Series):
        return False
    if not _pandas_cow():
        return False
    try:
        import numpy as np

        # numpy object blocks may hold mutable objects; extension arrays (strings...) do not
        return not any(isinstance(b.values, np.ndarray) and b.values.dtype.hasobject
                       for b in obj._mgr.blocks)
    except Exception:  # noqa: BLE001 - pandas internals moved: take the general path
        return False


_PANDAS_COW: bool | None = None


def _pandas_cow() -> bool:
    global _PANDAS_COW
    if _PANDAS_COW is None:
        import pandas as pd

        _PANDAS_COW = int(pd.__version__.split(".")[0]) >= 3
    return _PANDAS_COW


class FrameWatch:
    """What a pandas object looked like when it entered a namespace: its block arrays and
    axes (kept alive, so identity means sameness), names and attrs. Copy-on-Write replaces a
    shared array on any write, and the shallow copy held here makes every array shared."""

    def __init__(self, obj: Any) -> None:
        self.ref = obj.copy(deep=False)  # shares every array with obj: a write copies first
        self.state = _frame_state(obj)

    def unchanged(self, obj: Any) -> bool:
        try:
            now = _frame_state(obj)
        except Exception:  # noqa: BLE001
            return False
        if len(now) != len(self.state):
            return False
        for a, b in zip(now, self.state, strict=True):
            if isinstance(a, tuple):
                if len(a) != len(b) or any(x is not y for x, y in zip(a, b, strict=True)):
                    return False
            else:
                try:
                    if bool(a != b):
                        return False
                except Exception:  # noqa: BLE001 - attrs that do not compare
                    return False
        return True


def _frame_state(obj: Any) -> tuple[Any, ...]:
    mgr = obj._mgr
    arrays = tuple(b.values for b in mgr.blocks)
    axes = tuple(obj.axes)
    names = tuple(tuple(ax.names) for ax in axes)
    name = getattr(obj, "name", None) if not hasattr(obj, "columns") else None
    return (arrays, axes, (mgr,), repr(names), repr(name), dict(obj.attrs),
            obj.flags.allows_duplicate_labels)


def watch(obj: Any, namespace: dict[str, Any] | None = None,
          stored: StoredValue | None = None) -> Any:
    """A token to tell later whether obj changed (see changed()): for a pandas object a
    FrameWatch (no hashing), else a fingerprint in which buffers still unwritten in a
    copy-on-write mapping count by place (no hashing either)."""
    if _cow_frame(obj):
        return FrameWatch(obj)
    return fingerprint(obj, namespace, clean_ok=True)


def changed(obj: Any, token: Any, namespace: dict[str, Any] | None = None) -> bool:
    """Whether obj differs from what watch() saw (unpicklable objects always count)."""
    if isinstance(token, FrameWatch):
        return not token.unchanged(obj)
    fp = fingerprint(obj, namespace, clean_ok=True)
    return fp is None or fp != token


def store_value(name: str, obj: Any, namespace: dict[str, Any],
                memo: bool = False) -> StoredValue:
    """Snapshot obj (bound to name in namespace) so later mutations cannot reach the copy.

    memo: keep the objects the value refers to (`.refs`, for shared_groups)."""
    tname = _type_name(obj)
    if isinstance(obj, types.ModuleType):
        return StoredValue(
            "module", "module:" + obj.__name__, value=obj, data=obj.__name__.encode(),
            type_name=tname,
        )
    if _is_immutable(obj):
        try:
            data, buffers = pickle_parts(obj)
        except Exception:
            data, buffers = b"", []
        return StoredValue(
            "immutable", fingerprint_parts(data, buffers), value=obj, data=data, type_name=tname
        )
    if _is_function_of(obj, namespace):
        try:
            data = cloudpickle.dumps(obj, protocol=5)
        except Exception as exc:
            return StoredValue("shared", None, value=obj, type_name=tname,
                               reason=f"{name!r} ({tname}) cannot be pickled: {exc}")
        return StoredValue("function", "function:" + str(id(obj.__code__)), value=obj,
                           data=data, type_name=tname)
    if _cow_frame(obj):
        # Copy-on-Write: the snapshot shares the arrays; a later write copies them first
        kept = StoredValue("frame", None, value=obj.copy(deep=False), type_name=tname)
        if memo:
            kept.refs = {id(obj): obj}
        return kept
    memos: list[dict[int, Any]] | None = [] if memo else None
    try:
        data, pbuffers = pickle_parts(obj, memos)
    except Exception as exc:
        return StoredValue(
            "shared", None, value=obj, type_name=tname,
            reason=f"{name!r} ({tname}) cannot be pickled ({type(exc).__name__}: {exc}); "
            "it is shared by reference and the result is not cached",
        )
    kept = _pickled("pickle", data, pbuffers, tname)
    if memos is not None:
        kept.refs = memos[0] if memos and memos[0] else {id(obj): obj}
    return kept


def _pickled(kind: str, data: bytes, pbuffers: list[pickle.PickleBuffer],
             tname: str) -> StoredValue:
    raws = [b.raw() for b in pbuffers]
    try:
        if _HAVE_MEMFD and sum(r.nbytes for r in raws) >= _SHARE_MIN:
            # the one copy that protects the entry; consumers map it copy-on-write. Its
            # content hash is taken when (and if) it is written to disk, off the run.
            return StoredValue(kind, None, data=data, type_name=tname,
                               backing=Backing.in_memory(raws))
        return StoredValue(kind, fingerprint_parts(data, pbuffers), data=data,
                           buffers=[bytes(r) for r in raws], type_name=tname)
    finally:
        for b in pbuffers:
            b.release()


def identity_matters(obj: Any) -> bool:
    """Whether two variables referring to obj must keep referring to one object: not for
    values (str, numbers, tuples...) nor for what pickles by name or is canonical on load
    (classes, functions, modules, numpy dtypes)."""
    if isinstance(obj, (*_IMMUTABLE_SCALARS, tuple, frozenset, type, types.FunctionType,
                        types.BuiltinFunctionType, types.ModuleType, types.CodeType,
                        types.MethodType)):
        return False
    np = sys.modules.get("numpy")
    return not (np is not None and isinstance(obj, np.dtype))


def shared_groups(stored: dict[str, StoredValue]) -> list[list[str]]:
    """Names (in stored's order) whose values refer to common objects, in groups of two or
    more, from the `.refs` store_value(memo=True) kept; drops those refs."""
    names = [n for n, s in stored.items() if s.refs]
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for i, a in enumerate(names):
        refs_a = stored[a].refs
        for b in names[i + 1:]:
            if root(a) == root(b):
                continue
            refs_b = stored[b].refs
            small, big = (refs_a, refs_b) if len(refs_a) <= len(refs_b) else (refs_b, refs_a)
            common = small.keys() & big.keys()
            if any(identity_matters(_memo_obj(small[k])) for k in common):
                parent[root(b)] = root(a)
    for n in names:
        stored[n].refs = None
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def _memo_obj(entry: Any) -> Any:
    """The object of a memo entry ((index, object) in a pickler's memo, or the object)."""
    return entry[1] if isinstance(entry, tuple) and len(entry) == 2 and \
        isinstance(entry[0], int) else entry


def store_group(names: list[str], namespace: dict[str, Any]) -> dict[str, StoredValue]:
    """names (whose values share objects) kept as one pickle of {name: value}, with one
    memo: the first name holds it (kind 'group'), the others are 'member's naming it.
    None of them 'shared' (unpicklable): the caller checked."""
    objs = {n: namespace[n] for n in names}
    data, pbuffers = pickle_parts(objs)
    leader = names[0]
    out = {leader: _pickled("group", data, pbuffers, _type_name(objs[leader]))}
    for n in names[1:]:
        out[n] = StoredValue("member", "member:" + leader, data=leader.encode(),
                             type_name=_type_name(objs[n]))
    return out


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    """code (and the code objects nested in it) marked as compiled from filename."""
    consts = tuple(_with_filename(c, filename) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def rebind_function(func: types.FunctionType, namespace: dict[str, Any],
                    source_file: str | None = None) -> types.FunctionType:
    """A copy of func whose globals are namespace (a function defined in a component)."""
    code = func.__code__
    # cloudpickle stores functions as "<dynamic-code>"; give them back their cell's file
    # name so tracebacks show the component's source lines
    if source_file and code.co_filename == "<dynamic-code>":
        code = _with_filename(code, source_file)
    new = types.FunctionType(
        code, namespace, func.__name__, func.__defaults__, func.__closure__
    )
    new.__kwdefaults__ = func.__kwdefaults__
    new.__qualname__ = func.__qualname__
    new.__doc__ = func.__doc__
    new.__dict__.update(func.__dict__)
    new.__annotations__ = dict(getattr(func, "__annotations__", {}) or {})
    new.__module__ = func.__module__
    return new


def load_value(stored: StoredValue, namespace: dict[str, Any],
               source_file: str | None = None) -> Any:
    """A value for a consumer's namespace, where no write can reach the stored value: big
    buffers mapped copy-on-write, frames as Copy-on-Write shallow copies, small ones copied.

    source_file: where the producing component's code was compiled (for its functions)."""
    if stored.kind in ("immutable", "shared"):
        if stored.value is None and stored.data:
            stored.value = pickle.loads(stored.data)
        return stored.value
    if stored.kind == "module":
        if stored.value is None:
            stored.value = importlib.import_module(stored.data.decode())
        return stored.value
    if stored.kind == "function":
        func = stored.value if stored.value is not None else pickle.loads(stored.data)
        return rebind_function(func, namespace, source_file)
    if stored.kind == "frame":
        return stored.value.copy(deep=False)  # Copy-on-Write: no data copied
    if stored.kind == "member":
        raise ValueError(f"a value of group {stored.data.decode()!r} is loaded with its "
                         "group (load_values)")
    if stored.backing is not None:
        return pickle.loads(stored.data, buffers=stored.backing.views(private=True))
    copies = [fresh_copy(memoryview(b)) for b in stored.buffers]
    return pickle.loads(stored.data, buffers=copies)



GROUPED = ("group", "member")  # kinds only readers of entry format 2 know


def format_version(variables: dict[str, StoredValue]) -> int:
    """The entry format version a result needs: 2 when it holds a group (older cellpipe
    versions skip such an entry, as absent, instead of misreading it), else 1."""
    return 2 if any(v.kind in GROUPED for v in variables.values()) else 1


def load_values(variables: dict[str, StoredValue], namespace: dict[str, Any],
                source_file: str | None = None, load: Any = None) -> dict[str, Any]:
    """The values of a result's variables for a consumer (load_value each), a group's
    names bound to the objects of one unpickling: what was one object stays one.

    load: the function that loads one value (load_value's signature)."""
    load = load or load_value
    out: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for name, stored in variables.items():
        if stored.kind == "member":
            continue
        value = load(stored, namespace, source_file)
        if stored.kind == "group":
            groups[name] = value
            value = value[name]
        out[name] = value
    for name, stored in variables.items():
        if stored.kind == "member":
            group = groups.get(stored.data.decode())
            if group is None or name not in group:
                raise ValueError(f"variable {name!r} belongs to a group "
                                 f"{stored.data.decode()!r} that the result lacks")
            out[name] = group[name]
    return {name: out[name] for name in variables}
