"""One variable of a cache entry: how it is kept, copied for a consumer, and fingerprinted.

Mutable objects are kept as pickle protocol 5 (cloudpickle) with out-of-band buffers, so a
consumer gets its own copy with one memcpy per buffer; immutables and modules are shared;
functions defined in the pipeline are re-bound to the consumer's namespace; objects that
cannot be pickled are shared by reference and make the entry not cacheable.
"""

from __future__ import annotations

import importlib
import mmap
import os
import pickle
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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


@dataclass
class StoredValue:
    """A variable as kept in a cache entry.

    kind: 'immutable' (value shared), 'module' (module name), 'function' (a function bound to
    the run namespace, re-bound on load), 'pickle' (data + buffers, copied on load) or
    'shared' (unpicklable: the live object, shared by reference, never persisted).
    """

    kind: str
    fingerprint: str | None
    value: Any = None
    data: bytes = b""
    buffers: list[bytes] = field(default_factory=list)
    type_name: str = ""
    reason: str = ""

    @property
    def nbytes(self) -> int:
        return len(self.data) + sum(len(b) for b in self.buffers)

    @property
    def persistable(self) -> bool:
        return self.kind != "shared"


def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def pickle_parts(obj: Any) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """Pickle obj (protocol 5) keeping large buffers out of band, uncopied.

    The C pickler is several times faster than cloudpickle on many small objects; its
    result is used unless it refers to `__main__` (classes, functions or lambdas defined
    in the notebook), which only cloudpickle keeps by value."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        if b"__main__" not in data:
            return data, buffers
    except Exception:  # lambdas, local classes...: cloudpickle may still manage
        pass
    buffers = []
    data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return data, buffers


_CHUNK = 32 << 20  # buffers above this are hashed in parallel chunks (xxhash drops the GIL)
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                   thread_name_prefix="cellpipe-hash")
    return _POOL


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


def fingerprint_parts(data: bytes, buffers: list[Any]) -> str:
    """A fast content hash (xxh3) of a pickle and its out-of-band buffers."""
    h = xxhash.xxh3_128(data)
    for buf in buffers:
        raw = buf.raw() if isinstance(buf, pickle.PickleBuffer) else memoryview(buf).cast("B")
        if raw.nbytes <= _CHUNK or (os.cpu_count() or 1) < 2:
            h.update(raw)
            continue
        chunks = [raw[i:i + _CHUNK] for i in range(0, raw.nbytes, _CHUNK)]
        for digest in _pool().map(_chunk_digest, chunks):
            h.update(digest)
    return h.hexdigest()


def fingerprint(obj: Any, namespace: dict[str, Any] | None = None) -> str | None:
    """Content hash of obj, or None when it cannot be pickled (mutation cannot be seen)."""
    if isinstance(obj, types.ModuleType):
        return "module:" + obj.__name__
    if _is_function_of(obj, namespace):
        return "function:" + str(id(obj.__code__))
    try:
        data, buffers = pickle_parts(obj)
    except Exception:
        return None
    return fingerprint_parts(data, buffers)


def _is_function_of(obj: Any, namespace: dict[str, Any] | None) -> bool:
    return (
        namespace is not None
        and isinstance(obj, types.FunctionType)
        and obj.__globals__ is namespace
    )


def store_value(name: str, obj: Any, namespace: dict[str, Any]) -> StoredValue:
    """Snapshot obj (bound to name in namespace) so later mutations cannot reach the copy."""
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
    try:
        data, pbuffers = pickle_parts(obj)
    except Exception as exc:
        return StoredValue(
            "shared", None, value=obj, type_name=tname,
            reason=f"{name!r} ({tname}) cannot be pickled ({type(exc).__name__}: {exc}); "
            "it is shared by reference and the result is not cached",
        )
    fp = fingerprint_parts(data, pbuffers)
    buffers = [fresh_copy(b.raw()) for b in pbuffers]  # the one copy that protects the entry
    for b in pbuffers:
        b.release()
    return StoredValue("pickle", fp, data=data, buffers=buffers, type_name=tname)


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
    """A value for a consumer's namespace: its own copy where mutation could leak.

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
    copies = [fresh_copy(memoryview(b)) for b in stored.buffers]
    return pickle.loads(stored.data, buffers=copies)

