"""Checking a cache file against its manifest before anything in it is used.

The one hash is the value's fingerprint (cache/values/fingerprint.py: xxh3-128 over the
pickle and its buffers, big buffers as a tree of 32 MB pieces hashed in parallel), computed
once when the value is stored and recorded in the manifest; reading recomputes it over the file's parts.
xxh3 costs a small fraction of loading the file (SHA-256 costs more than the load itself;
benchmarks/bench_verify.py measures both). Values whose fingerprint is not a content hash
(modules, functions: small files) carry a `digest` of their file instead; entries written
before fingerprints were checked carry a `sha256`.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path
from typing import Any

import xxhash

from cellpipe.cache.values import fingerprint_parts

FINGERPRINT = "fingerprint/xxh3"  # how a manifest's files are checked (its "digest" field)

Stamp = tuple[int, int, int]  # (inode, size, mtime_ns) of a file when it was verified


def digest(data: Any) -> str:
    """xxh3-128 of bytes in memory (manifests, small files)."""
    return xxhash.xxh3_128_hexdigest(data)


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def verify_file(path: Path, var: dict[str, Any], algorithm: str) -> Stamp | None:
    """The file's stamp if its bytes are what the manifest's entry var says, else None."""
    if algorithm not in (FINGERPRINT, "sha256"):
        return None  # a digest this cellpipe cannot check
    sizes: list[int] = var["sizes"]
    offsets: list[int] = var.get("offsets") or [sum(sizes[:i]) for i in range(len(sizes))]
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_size == 0:
            whole: Any = memoryview(b"")
        else:
            whole = memoryview(mmap.mmap(f.fileno(), st.st_size, prot=mmap.PROT_READ))
        try:
            if offsets[-1] + sizes[-1] > st.st_size:
                return None
            if algorithm == "sha256":
                ok = hashlib.sha256(whole).hexdigest() == var.get("sha256")
            elif "digest" in var:
                ok = digest(whole) == var["digest"]
            else:
                parts = [whole[o:o + n] for o, n in zip(offsets, sizes, strict=True)]
                ok = fingerprint_parts(parts[0], parts[1:]) == var.get("fingerprint")
                for part in parts:
                    part.release()
        finally:
            whole.release()
    return stamp_of(st) if ok else None
