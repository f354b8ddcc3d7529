"""A data store over any fsspec URL, addressed by cache key (DESIGN 5).

Layout: `<root>/entries/<key>/manifest.json` plus one file per variable (its pickle
protocol 5 stream, then its out-of-band buffers at aligned offsets: laid out as the disk
cache lays out values, so a file:// store and a disk cache can share a file by hard link).
Variable files carry a per-write id in their name and the manifest is written last, so a
reader sees a whole entry or none, even when a retried task writes the same key twice;
putting a key that is already there does nothing (uploads happen once).
"""

from __future__ import annotations

import json
import mmap
import os
import platform
import shutil
import stat
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import xxhash

from cellpipe.cache import CacheEntry, DiskStore, StoredValue
from cellpipe.cache.disk import CorruptEntry, variable_fields, write_manifest
from cellpipe.cache.filecopy import copy_buffers, copy_range, write_all
from cellpipe.cache.values import Backing, buffer_layout, fingerprint_parts
from cellpipe.remote.errors import DataStoreError

ENTRY_FORMAT = "cellpipe.store-entry"
# 2: variables kept as a group (values.format_version); 3: buffers at aligned offsets
# (`offsets`), as the disk cache lays them out (a fetch can link the file: no copy)
ENTRY_VERSION = 3
ENTRY_VERSIONS = (1, 2, 3)


class DataStore:
    """Cache entries by key under one fsspec URL (file://, s3://, memory://, ...)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self._local = "file" in protocols  # renames are atomic; directories must exist

    @property
    def local(self) -> bool:
        """Whether this is a file:// store (files on this machine: linked or copied by the
        kernel, mapped)."""
        return self._local

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

    def put(self, entry: CacheEntry, dead: Collection[str] = ()) -> None:
        """Store entry under its key (no-op if present); the manifest is written last.

        dead: variables whose buffers this process holds alone and never reads again (a
        task's result): a file:// store gives their pages back as it writes them."""
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
            fp = value.fingerprint
            # a content fingerprint (xxh3 of the parts) is the checksum; others get one
            h = None if _content_hashed(fp) else xxhash.xxh3_128()
            if self._local and h is None:
                sizes = _write_local(f"{folder}/{fname}", *value.parts(), name in dead)
            else:
                data, buffers = _parts(value)
                sizes = [len(data), *(_nbytes(b) for b in buffers)]
                with self.fs.open(f"{folder}/{fname}", "wb") as f:
                    pos = 0
                    for part, offset in zip((data, *buffers), _layout(sizes), strict=True):
                        f.write(b"\0" * (offset - pos))
                        f.write(part)
                        pos = offset + _nbytes(part)
                        if h is not None:
                            h.update(part)
            var = {"name": name, "serializer": value.serializer, "file": fname,
                   "sizes": sizes, "offsets": _layout(sizes), "fingerprint": fp,
                   "type": value.type_name}
            if h is not None:
                var["xxh3"] = h.hexdigest()
            variables.append(var)
        manifest = {
            "format": ENTRY_FORMAT, "version": ENTRY_VERSION,
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

    def _manifest(self, key: str) -> dict[str, Any]:
        try:
            manifest = json.loads(self.fs.cat_file(f"{self._dir(key)}/manifest.json"))
        except FileNotFoundError:
            raise DataStoreError(f"the data store {self.url} has no entry {key[:12]}") from None
        if manifest.get("format") != ENTRY_FORMAT or manifest.get("version") not in ENTRY_VERSIONS:
            raise DataStoreError(f"entry {key[:12]} in {self.url} has an unknown format")
        return manifest

    def _damaged(self, key: str, var: dict[str, Any]) -> DataStoreError:
        return DataStoreError(f"entry {key[:12]} in {self.url}: variable {var['name']!r} is "
                              "damaged (size or checksum)")

    def get(self, key: str, private: bool = False) -> CacheEntry:
        """The entry for key; raises DataStoreError when it is missing or damaged.

        private: read each variable into a writable buffer of its own, so a task process
        can unpickle arrays on it without a copy."""
        folder = self._dir(key)
        manifest = self._manifest(key)
        variables: dict[str, StoredValue] = {}
        for var in manifest["variables"]:
            sizes, offsets = var["sizes"], _offsets(var)
            end = offsets[-1] + sizes[-1]
            raw = self._read(f"{folder}/{var['file']}", end) if private else \
                self.fs.cat_file(f"{folder}/{var['file']}")
            view = memoryview(raw)
            parts = [view[o:o + n] for o, n in zip(offsets, sizes, strict=True)]
            if len(raw) != end or not _intact(parts, var):
                raise self._damaged(key, var)
            variables[var["name"]] = StoredValue(
                kind=var["serializer"], fingerprint=var["fingerprint"], data=bytes(parts[0]),
                buffers=parts[1:], type_name=var.get("type", ""))  # type: ignore[arg-type]
        return _entry(manifest, variables)

    def fetch(self, key: str, into: DiskStore) -> CacheEntry:
        """The entry for key as an entry of into (a private disk store of this process):
        from a file:// store, each variable file is hard-linked (or copied by the kernel,
        see _stage), checked there against its checksum and mapped from there by consumers
        (never read into this process's memory); from other stores, read as get() does.
        Raises DataStoreError when it is missing or damaged."""
        if not self._local:
            return self.get(key)
        if into.has(key):
            try:
                kept = into.get(key)
            except CorruptEntry:
                into.remove(key)
            else:
                if kept is not None:
                    return kept
        manifest = self._manifest(key)
        if manifest["key"] != key:
            raise DataStoreError(f"entry {key[:12]} in {self.url} is another entry's")
        staging = into.staging_dir()
        try:
            records, kinds = [], {}
            for i, var in enumerate(manifest["variables"]):
                fname = f"var{i}.bin"
                layout = self._stage(key, var, staging / fname)
                records.append(variable_fields(var["name"], var["serializer"], fname,
                                               var["fingerprint"], var.get("type", ""), layout,
                                               os.stat(staging / fname)))
                kinds[var["name"]] = StoredValue(var["serializer"], var["fingerprint"])
            write_manifest(staging, _entry(manifest, kinds), records)
            if not into.adopt(staging, key):  # fetched meanwhile
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        entry = into.get(key, verify="off")  # checked above, in this process's directory
        if entry is None:
            raise DataStoreError(f"entry {key[:12]} from {self.url} could not be kept")
        return entry

    def _stage(self, key: str, var: dict[str, Any], path: Path) -> dict[str, Any]:
        """One variable file of a file:// store at path, laid out as the disk cache lays out
        values: the store's file itself, hard-linked, when it is laid out so and is this
        user's, else copied by the kernel; then checked there. Returns its layout fields."""
        source = f"{self._dir(key)}/{var['file']}"
        sizes, src_offsets = var["sizes"], _offsets(var)
        offsets, end = _layout(sizes), _end(sizes)
        if os.stat(source).st_size != src_offsets[-1] + sizes[-1]:
            raise self._damaged(key, var)
        if src_offsets != offsets or not _link_own(source, path, end):
            _copy_parts(source, path, sizes, src_offsets, offsets, end)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_size != end:
                raise self._damaged(key, var)
            with _mapped(fd, end) as whole:
                parts = [whole[o:o + n] for o, n in zip(offsets, sizes, strict=True)]
                try:
                    if not _intact(parts, var):
                        raise self._damaged(key, var)
                    file_digest = None if _content_hashed(var["fingerprint"]) else \
                        xxhash.xxh3_128_hexdigest(whole)
                finally:
                    for part in parts:
                        part.release()
        finally:
            os.close(fd)
        layout: dict[str, Any] = {"sizes": sizes, "offsets": offsets}
        if file_digest is not None:  # the disk cache's check of such (small) files
            layout["digest"] = file_digest
        return layout

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


def _write_local(path: str, data: bytes, buffers: list[Any], dead: bool = False) -> list[int]:
    """A variable file of a file:// store, laid out by _layout; a value kept in a memfd or
    a cache file is copied by the kernel (never mapped here). Returns the parts' sizes.
    dead: the buffers' pages go back to the system as they are written (write_all)."""
    sizes = [len(data)]
    for buf in buffers:
        sizes.extend(buf.sizes if isinstance(buf, Backing) else [_nbytes(buf)])
    if len(buffers) == 1 and isinstance(buffers[0], Backing) and \
            _link_cache_file(buffers[0], data, sizes, path):
        return sizes
    offsets = iter(_layout(sizes)[1:])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        write_all(fd, data, 0)
        for buf in buffers:
            if isinstance(buf, Backing):
                copy_buffers(buf, fd, [next(offsets) for _ in buf.sizes])
            else:
                write_all(fd, buf, next(offsets), give_back=dead)
        os.ftruncate(fd, _end(sizes))  # (gaps are holes: zeros)
    finally:
        os.close(fd)
    return sizes


def _link_cache_file(backing: Backing, data: bytes, sizes: list[int], path: str) -> bool:
    """Hard-link a disk cache's file holding a value to path, when it is laid out as this
    store lays out values (the disk cache's layout), unchanged since it was verified, and
    on this file system. It becomes readable as any store file is (the umask's read bits;
    never writable by others, so the cache still takes it as its own); the cache's
    directory keeps others out of it there. False when it cannot be (then copy it)."""
    if not isinstance(backing.source, str) or backing.stamp is None or \
            [*backing.offsets] != _layout(sizes)[1:]:
        return False
    try:
        with open(backing.source, "rb") as f:
            st = os.fstat(f.fileno())
            if (st.st_ino, st.st_size, st.st_mtime_ns) != backing.stamp or \
                    st.st_size != _end(sizes) or st.st_uid != os.geteuid() or \
                    f.read(len(data)) != data:
                return False
        os.link(backing.source, path)
    except OSError:  # another file system, links not supported
        return False
    try:
        os.chmod(path, 0o644 & ~_umask() | stat.S_IMODE(st.st_mode) & 0o600)
    except OSError:
        pass
    return True


def _umask() -> int:
    """This process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _link_own(source: str, path: Path, size: int) -> bool:
    """Hard-link source to path if it is a file of size bytes that only this user can write
    (as the disk cache requires of its files); False when it cannot be (then copy it).
    The link itself is checked: the store's name may have been swapped meanwhile."""
    def own(st: os.stat_result) -> bool:
        return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and \
            not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and st.st_size == size

    try:
        if not own(os.stat(source)):
            return False
        os.link(source, path, follow_symlinks=False)
        if own(os.lstat(path)):
            return True
        os.unlink(path)
    except OSError:  # another file system, links not supported
        pass
    return False


def _copy_parts(source: str, path: Path, sizes: list[int], src_offsets: list[int],
                offsets: list[int], end: int) -> None:
    """Copy a variable file's parts from src_offsets to offsets of a new file, by the kernel."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            for size, src_offset, offset in zip(sizes, src_offsets, offsets, strict=True):
                copy_range(src, src_offset, dst, offset, size)
            os.ftruncate(dst, end)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _layout(sizes: list[int]) -> list[int]:
    """Where a variable file's parts start: the pickle at 0, each buffer at an aligned
    offset after the previous part (the disk cache's layout: arrays come out aligned)."""
    return [0, *buffer_layout(sizes[0], sizes[1:])[0]]


def _end(sizes: list[int]) -> int:
    return buffer_layout(sizes[0], sizes[1:])[1]


def _offsets(var: dict[str, Any]) -> list[int]:
    """A manifest record's part offsets (entries before version 3: one after the other)."""
    sizes: list[int] = var["sizes"]
    return var.get("offsets") or [sum(sizes[:i]) for i in range(len(sizes))]


def _entry(manifest: dict[str, Any], variables: dict[str, StoredValue]) -> CacheEntry:
    return CacheEntry(
        key=manifest["key"], component_id=manifest["component_id"], name=manifest["name"],
        parent_keys=manifest["inputs"], variables=variables, deleted=manifest["deleted"],
        outputs=manifest["outputs"], elapsed=manifest["elapsed"],
        created=manifest["created"], run_of=manifest.get("run_of"),
        inputs=manifest.get("key_inputs", {}), source_file=manifest.get("source_file"),
    )


def _intact(parts: list[memoryview], var: dict[str, Any]) -> bool:
    """Whether a variable's parts are what its manifest record says (its checksum: the
    content fingerprint, or the xxh3 of the parts one after the other)."""
    if "xxh3" in var:
        h = xxhash.xxh3_128()
        for part in parts:
            h.update(part)
        return bool(h.hexdigest() == var["xxh3"])
    return bool(fingerprint_parts(bytes(parts[0]), parts[1:]) == var["fingerprint"])


@contextmanager
def _mapped(fd: int, size: int) -> Iterator[memoryview]:
    """The file read-only, mapped (an empty view for an empty file)."""
    if size == 0:
        yield memoryview(b"")
        return
    mapping = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    view = memoryview(mapping)
    try:
        yield view
    finally:
        view.release()
        mapping.close()


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
