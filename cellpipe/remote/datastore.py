"""A data store over any fsspec URL, addressed by cache key (DESIGN 5).

Layout: `<root>/entries/<key>/manifest.json` plus one file per variable (its pickle
protocol 5 stream followed by its out-of-band buffers, as the results cache keeps them).
Variable files carry a per-write id in their name and the manifest is written last, so a
reader sees a whole entry or none, even when a retried task writes the same key twice;
putting a key that is already there does nothing (uploads happen once).
"""

from __future__ import annotations

import json
import mmap
import os
import platform
import time
import uuid
from typing import Any

import fsspec
import xxhash

from cellpipe.cache import CacheEntry, StoredValue
from cellpipe.cache.values import Backing, fingerprint_parts, format_version
from cellpipe.remote.errors import DataStoreError

ENTRY_FORMAT = "cellpipe.store-entry"
ENTRY_VERSION = 1
ENTRY_VERSIONS = (1, 2)  # 2: variables kept as a group (values.format_version)


class DataStore:
    """Cache entries by key under one fsspec URL (file://, s3://, memory://, ...)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self._local = "file" in protocols  # renames are atomic; directories must exist

    def _dir(self, key: str) -> str:
        if not key or not all(c.isalnum() or c in "-_" for c in key):
            raise DataStoreError(f"not a cache key: {key!r}")
        return f"{self.root}/entries/{key}"

    def has(self, key: str) -> bool:
        """Whether a whole entry for key is there."""
        return bool(self.fs.exists(f"{self._dir(key)}/manifest.json"))

    def check(self) -> None:
        """Touch the store (raises OSError when it cannot be reached or written)."""
        if self._local:
            self.fs.makedirs(self.root, exist_ok=True)
        probe = f"{self.root}/.probe-{uuid.uuid4().hex}"
        self.fs.pipe_file(probe, b"ok")
        self.fs.rm_file(probe)

    def write_probe(self) -> tuple[str, str]:
        """A small file with a random token (name, token): a worker that reads the same
        token sees the same store as this client (`cellpipe workers ping`)."""
        name, token = uuid.uuid4().hex, uuid.uuid4().hex
        if self._local:
            self.fs.makedirs(f"{self.root}/probes", exist_ok=True)
        self.fs.pipe_file(f"{self.root}/probes/{name}", token.encode())
        return name, token

    def read_probe(self, name: str) -> str | None:
        """The token of probe name, or None when this store has no such probe."""
        if not name.isalnum():
            return None
        try:
            return bytes(self.fs.cat_file(f"{self.root}/probes/{name}")).decode()
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def remove_probe(self, name: str) -> None:
        try:
            self.fs.rm_file(f"{self.root}/probes/{name}")
        except FileNotFoundError:
            pass

    def put(self, entry: CacheEntry) -> None:
        """Store entry under its key (no-op if present); the manifest is written last."""
        folder = self._dir(entry.key)
        if self.fs.exists(f"{folder}/manifest.json"):
            return
        if entry.not_cacheable_reasons:
            raise DataStoreError(f"component {entry.name!r}: "
                                 f"{entry.not_cacheable_reasons[0]}; it cannot be shipped")
        if self._local:
            self.fs.makedirs(folder, exist_ok=True)
        write_id = uuid.uuid4().hex[:12]
        variables = []
        for i, (name, value) in enumerate(entry.variables.items()):
            fname = f"var{i}.{write_id}.bin"
            data, buffers = _parts(value)
            fp = value.fingerprint
            # a content fingerprint (xxh3 of the parts) is the checksum; others get one
            h = None if _content_hashed(fp) else xxhash.xxh3_128()
            with self.fs.open(f"{folder}/{fname}", "wb") as f:
                for part in (data, *buffers):
                    f.write(part)
                    if h is not None:
                        h.update(part)
            var = {"name": name, "serializer": value.serializer, "file": fname,
                   "sizes": [len(data), *(_nbytes(b) for b in buffers)], "fingerprint": fp,
                   "type": value.type_name}
            if h is not None:
                var["xxh3"] = h.hexdigest()
            variables.append(var)
        manifest = {
            "format": ENTRY_FORMAT, "version": format_version(entry.variables),
            "key": entry.key,
            "component_id": entry.component_id, "name": entry.name,
            "inputs": entry.parent_keys, "key_inputs": entry.inputs, "variables": variables,
            "deleted": entry.deleted, "outputs": entry.outputs, "elapsed": entry.elapsed,
            "created": entry.created or time.time(), "run_of": entry.run_of,
            "source_file": entry.source_file, "python": platform.python_version(),
        }
        text = json.dumps(manifest, default=repr).encode()
        final = f"{folder}/manifest.json"
        if self._local:
            tmp = f"{folder}/.manifest.{write_id}.tmp"
            self.fs.pipe_file(tmp, text)
            self.fs.mv(tmp, final)  # a rename: atomic on one file system
        else:
            self.fs.pipe_file(final, text)  # an object PUT is atomic

    def get(self, key: str, private: bool = False) -> CacheEntry:
        """The entry for key; raises DataStoreError when it is missing or damaged.

        private: read each variable into a writable buffer of its own, so a task process
        can unpickle arrays on it without a copy."""
        folder = self._dir(key)
        try:
            manifest = json.loads(self.fs.cat_file(f"{folder}/manifest.json"))
        except FileNotFoundError:
            raise DataStoreError(f"the data store {self.url} has no entry {key[:12]}") from None
        if manifest.get("format") != ENTRY_FORMAT or manifest.get("version") not in ENTRY_VERSIONS:
            raise DataStoreError(f"entry {key[:12]} in {self.url} has an unknown format")
        variables: dict[str, StoredValue] = {}
        for var in manifest["variables"]:
            sizes = var["sizes"]
            raw = self._read(f"{folder}/{var['file']}", sum(sizes)) if private else \
                self.fs.cat_file(f"{folder}/{var['file']}")
            view = memoryview(raw)
            parts, offset = [], 0
            for size in sizes:
                parts.append(view[offset:offset + size])
                offset += size
            intact = len(raw) == sum(sizes) and (
                xxhash.xxh3_128_hexdigest(raw) == var["xxh3"] if "xxh3" in var
                else fingerprint_parts(bytes(parts[0]), parts[1:]) == var["fingerprint"])
            if not intact:
                raise DataStoreError(f"entry {key[:12]} in {self.url}: variable "
                                     f"{var['name']!r} is damaged (size or checksum)")
            variables[var["name"]] = StoredValue(
                kind=var["serializer"], fingerprint=var["fingerprint"], data=bytes(parts[0]),
                buffers=parts[1:], type_name=var.get("type", ""))  # type: ignore[arg-type]
        return CacheEntry(
            key=manifest["key"], component_id=manifest["component_id"], name=manifest["name"],
            parent_keys=manifest["inputs"], variables=variables, deleted=manifest["deleted"],
            outputs=manifest["outputs"], elapsed=manifest["elapsed"],
            created=manifest["created"], run_of=manifest.get("run_of"),
            inputs=manifest.get("key_inputs", {}), source_file=manifest.get("source_file"),
        )


    def _read(self, path: str, size: int) -> Any:
        if self._local and size >= 1 << 20:
            # a file:// store: the file itself, mapped copy-on-write (writable, private to
            # this process, never copied; variable files are written once, never in place)
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size == size:
                    return mmap.mmap(f.fileno(), size, flags=mmap.MAP_PRIVATE,
                                     prot=mmap.PROT_READ | mmap.PROT_WRITE)
        # an anonymous mapping: no zero-filling pass over the bytes before they are read
        buf: Any = mmap.mmap(-1, size) if size >= 1 << 20 else bytearray(size)
        view, got = memoryview(buf), 0
        with self.fs.open(path, "rb") as f:
            while got < size:
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
        return buf if got == size else bytes(view[:got])


def _parts(value: StoredValue) -> tuple[bytes, list[Any]]:
    """A value's pickle data and its buffers as bytes-likes (big ones mapped read-only)."""
    data, buffers = value.parts()
    flat: list[Any] = []
    for buf in buffers:
        flat.extend(buf.views(private=False) if isinstance(buf, Backing) else [buf])
    return data, flat


def _content_hashed(fingerprint: str | None) -> bool:
    """Whether a fingerprint is the content hash of the value's parts (the disk cache's rule)."""
    return isinstance(fingerprint, str) and ":" not in fingerprint


def _nbytes(buf: Any) -> int:
    return memoryview(buf).nbytes
