"""A value's fingerprint: xxh3-128 over its pickle and buffers, big buffers hashed in
parallel chunks, buffers a consumer never wrote recognised from their pages."""

from __future__ import annotations

import os
import pickle
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import xxhash

from cellpipe.cache.values.pagemap import clean_token, watched
from cellpipe.cache.values.pickling import pickle_parts

CHUNK = 32 << 20  # buffers above this are hashed in parallel chunks (xxhash drops the GIL)


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                   thread_name_prefix="cellpipe-hash")
    return _POOL


def in_pool(fn: Any, items: list[Any]) -> list[Any]:
    """fn over items on the pool, in order; in this thread once the interpreter is exiting
    (a kernel finishing its cache writes at exit can no longer start pool work)."""
    try:
        return list(_pool().map(fn, items))
    except RuntimeError:
        return [fn(item) for item in items]


def _chunk_digest(view: memoryview) -> bytes:
    return xxhash.xxh3_64_digest(view)


def fingerprint_parts(data: bytes, buffers: list[Any], clean_ok: bool = False) -> str:
    """A fast content hash (xxh3) of a pickle and its out-of-band buffers.

    clean_ok: a buffer that lies in a copy-on-write mapping of a stored value and has not been
    written since (see clean_token) counts by its place instead of its bytes. Such a
    fingerprint only tells whether a value changed; it is not a content hash."""
    h = xxhash.xxh3_128(data)
    clean_ok = clean_ok and bool(buffers) and watched()
    for buf in buffers:
        raw = buf.raw() if isinstance(buf, pickle.PickleBuffer) else memoryview(buf).cast("B")
        token = clean_token(raw) if clean_ok else None
        if token is not None:
            h.update(token.encode())
            continue
        if raw.nbytes <= CHUNK:
            h.update(raw)
            continue
        # the same pieces on any machine (the cache verifies files with this hash)
        chunks = [raw[i:i + CHUNK] for i in range(0, raw.nbytes, CHUNK)]
        for digest in in_pool(_chunk_digest, chunks):
            h.update(digest)
    return h.hexdigest()


def fingerprint(obj: Any, namespace: dict[str, Any] | None = None,
                clean_ok: bool = False) -> str | None:
    """Content hash of obj, or None when it cannot be pickled (mutation cannot be seen).
    clean_ok: see fingerprint_parts."""
    if isinstance(obj, types.ModuleType):
        return "module:" + obj.__name__
    if is_function_of(obj, namespace):
        return "function:" + str(id(obj.__code__))
    try:
        data, buffers = pickle_parts(obj)
    except Exception:
        return None
    return fingerprint_parts(data, buffers, clean_ok)


def is_function_of(obj: Any, namespace: dict[str, Any] | None) -> bool:
    return (
        namespace is not None
        and isinstance(obj, types.FunctionType)
        and obj.__globals__ is namespace
    )
