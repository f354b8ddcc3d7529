"""Results on disk (DESIGN 3.4): one directory per key, written whole or not at all.

Layout under the root: `entries/<key>/manifest.json` plus one file per variable;
`tmp/` holds entries being written, which are renamed into `entries/` when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.filecopy import backing_fd, copy_buffers, copy_range, write_all
from cellpipe.cache.integrity import FINGERPRINT, digest, verify_file
from cellpipe.cache.privacy import (
    DIR_MODE,
    FILE_MODE,
    UnsafeCacheError,
    check_private,
    make_private_dir,
)
from cellpipe.cache.values import Backing, StoredValue, buffer_layout, format_version

MANIFEST_FORMAT = "cellpipe.cache-entry"
MANIFEST_VERSION = 1
MANIFEST_VERSIONS = (1, 2)  # 2: variables kept as a group (values.format_version)


def default_cache_dir() -> Path:
    """$CELLPIPE_CACHE_DIR, else the user cache dir (platformdirs)."""
    env = os.environ.get("CELLPIPE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("cellpipe")) / "results"


def disk_cache_enabled() -> bool:
    """False when CELLPIPE_CACHE=memory (global opt-out of the on-disk cache)."""
    return os.environ.get("CELLPIPE_CACHE", "disk").lower() != "memory"


@dataclass
class EntryInfo:
    """What `cellpipe cache ls` shows of an entry."""

    key: str
    component_id: str
    name: str
    nbytes: int
    created: float
    variables: list[str]


class CorruptEntry(Exception):
    """An entry whose files are not what its manifest says (changed, truncated, unreadable)."""

    def __init__(self, key: str, name: str | None, reason: str) -> None:
        self.key, self.name, self.reason = key, name, reason
        what = f"component {name!r}" if name else f"key {key[:12]}"
        super().__init__(f"cached result of {what} is damaged ({reason}): it is not used "
                         "and is computed again")


@dataclass
class BrokenEntry:
    """An entry directory whose manifest cannot be used (what `cache ls`/`gc` report)."""

    path: Path
    reason: str
    nbytes: int


class DiskStore:
    """Entries by key in a private directory; reads verify every file against the
    manifest, writes are atomic."""

    def __init__(self, root: Path, verify: str | None = None) -> None:
        self.root = Path(root)
        # "stamp": hash a file unless it is untouched since its content was last checked
        # (written or hashed: same inode, size, mtime and ctime; any write changes ctime);
        # "full": hash every file on every load; "off": only to measure what checks cost
        self.verify = verify or ("full" if os.environ.get("CELLPIPE_VERIFY") == "full"
                                 else "stamp")
        self._dirs_made = False
        self._sound: dict[str, tuple[int, int]] = {}  # key -> manifest (mtime_ns, size) read ok
        self.damaged: dict[str, CorruptEntry] = {}  # why has() found an entry unusable

    def entry_dir(self, key: str) -> Path:
        """Where the entry for key lives (whether or not it exists)."""
        return self.root / "entries" / safe_name(key)

    def check_private(self) -> None:
        """Raise UnsafeCacheError if another user could have written into the cache."""
        check_private(self.root)
        check_private(self.root / "entries")

    def has(self, key: str) -> bool:
        """Whether a complete entry with a sound manifest exists (files are checked on get)."""
        self.check_private()
        path = self.entry_dir(key) / "manifest.json"
        try:
            st = path.stat()
        except OSError:
            return False
        check_entry_private(path.parent)
        if self._sound.get(key) == (st.st_mtime_ns, st.st_size):
            return True
        try:
            manifest = read_manifest(path)
        except CorruptEntry as exc:
            self.damaged[key] = CorruptEntry(key, exc.name, exc.reason)
            return False
        if (manifest.get("format"), manifest.get("key")) != (MANIFEST_FORMAT, key) or \
                manifest.get("version") not in MANIFEST_VERSIONS:
            return False
        self._sound[key] = (st.st_mtime_ns, st.st_size)
        return True

    def pin(self, keys: Iterable[str]) -> None:
        """Nothing on disk is evicted during a run."""

    def put(self, entry: CacheEntry) -> None:
        self.write(entry)

    def _make_dirs(self) -> None:
        if not self._dirs_made:
            make_private_dir(self.root)
            self.check_private()
            for sub in ("tmp", "entries"):
                make_private_dir(self.root / sub)
            check_private(self.root / "tmp")
            self._dirs_made = True

    def write(self, entry: CacheEntry) -> Path:
        """Write entry atomically (temp dir, then rename); return its directory. An entry
        already there is kept, unless its manifest is damaged: then it is replaced."""
        final = self.entry_dir(entry.key)
        if self.has(entry.key):
            return final
        self._make_dirs()
        tmp = os.path.join(self.root, "tmp", f"{safe_name(entry.key)}.{uuid.uuid4().hex}")
        try:
            os.mkdir(tmp, DIR_MODE)
        except FileNotFoundError:  # tmp/ was cleaned meanwhile (gc)
            self._dirs_made = False
            self._make_dirs()
            os.mkdir(tmp, DIR_MODE)
        try:
            variables = []
            for i, (name, value) in enumerate(entry.variables.items()):
                fname = f"var{i}.bin"
                fields = _write_value(os.path.join(tmp, fname), value)
                variables.append(variable_fields(name, value.serializer, fname,
                                                 value.fingerprint, value.type_name, fields,
                                                 os.stat(os.path.join(tmp, fname))))
            write_manifest(Path(tmp), entry, variables)
            self._put_in_place(tmp, final, entry.key)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def _put_in_place(self, tmp: str, final: Path, key: str) -> None:
        try:
            os.rename(tmp, final)
            return
        except OSError:
            if self.has(key):  # written meanwhile by another kernel
                shutil.rmtree(tmp, ignore_errors=True)
                return
        self.remove(key)  # a damaged entry: replaced by the new one
        os.rename(tmp, final)

    def get(self, key: str, verify: str | None = None) -> CacheEntry | None:
        """The entry read from disk, every file checked against its manifest; None if
        absent or of another format. Raises CorruptEntry if a file changed, and
        UnsafeCacheError if another user could have written the directory.

        verify: this read's rule instead of the store's ("full", "stamp"; "off" only for
        an entry this process has just written and checked itself)."""
        verify = verify or self.verify
        folder = self.entry_dir(key)
        self.check_private()
        if not (folder / "manifest.json").exists():
            return None
        check_entry_private(folder)
        manifest = read_manifest(folder / "manifest.json")
        if manifest.get("format") != MANIFEST_FORMAT or \
                manifest.get("version") not in MANIFEST_VERSIONS:
            return None
        name = manifest.get("name")
        if manifest.get("key") != key:
            raise CorruptEntry(key, name, "its manifest is another entry's")
        algorithm = manifest.get("digest", "sha256")  # older entries have sha256 only
        variables: dict[str, StoredValue] = {}
        checked, checked_at = _read_checked(folder) if verify == "stamp" else ({}, 0)
        written_at = os.stat(folder / "manifest.json").st_ctime_ns
        newly_checked: dict[str, list[int]] = {}
        try:
            for var in manifest["variables"]:
                path = folder / var["file"]
                check_private(path, "cache file")  # (again: it may have changed since)
                now = _file_stamp(os.stat(path))
                stamp: tuple[int, int, int] | None = (now[0], now[1], now[2])
                # a stamp taken in the same clock tick as the file's last change proves
                # nothing (a write in that tick would not change it): such files are hashed
                if verify == "off" or verify == "stamp" and (
                        (now == var.get("written") and now[3] < written_at)
                        or (now == checked.get(var["file"]) and now[3] < checked_at)):
                    pass  # untouched since its content was checked
                elif verify_file(path, var, algorithm) is None:
                    raise CorruptEntry(key, name, f"{var['file']} ({var['name']!r}) does "
                                                  "not match its manifest")
                else:
                    newly_checked[var["file"]] = now
                variables[var["name"]] = _read_value(path, var, stamp)
            if newly_checked and verify == "stamp":
                _write_checked(folder, {**checked, **newly_checked})
            return CacheEntry(
                key=manifest["key"], component_id=manifest["component_id"], name=name,
                parent_keys=manifest["inputs"], variables=variables,
                deleted=manifest["deleted"], outputs=manifest["outputs"],
                elapsed=manifest["elapsed"], created=manifest["created"],
                run_of=manifest.get("run_of"), inputs=manifest.get("key_inputs", {}),
                source_file=manifest.get("source_file"),
            )
        except OSError as exc:
            raise CorruptEntry(key, name, f"unreadable: {exc.strerror or exc}") from None
        except UnsafeCacheError:
            raise  # refused, not damaged: it is neither loaded nor removed
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CorruptEntry(key, name, f"manifest field {exc} is wrong") from None

    def entries(self) -> Iterator[EntryInfo]:
        """Every complete entry with a sound manifest, sorted by directory name."""
        for folder in sorted((self.root / "entries").glob("*")):
            try:
                m = read_manifest(folder / "manifest.json")
                size = sum(p.stat().st_size for p in folder.iterdir())
                info = EntryInfo(m["key"], m["component_id"], m["name"], size, m["created"],
                                 [v["name"] for v in m["variables"]])
            except (CorruptEntry, OSError, KeyError, TypeError):
                continue
            yield info

    def broken(self) -> Iterator[BrokenEntry]:
        """Entry directories whose manifest is missing, truncated or altered."""
        for folder in sorted((self.root / "entries").glob("*")):
            try:
                m = read_manifest(folder / "manifest.json")
                [v["name"] for v in m["variables"]]  # noqa: B018 - the fields ls needs
                m["key"], m["component_id"], m["name"], m["created"]  # noqa: B018
            except (CorruptEntry, KeyError, TypeError) as exc:
                reason = exc.reason if isinstance(exc, CorruptEntry) else f"no field {exc}"
                size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
                yield BrokenEntry(folder, reason, size)

    def remove(self, key: str) -> None:
        self._sound.pop(key, None)
        _remove_dir(self.entry_dir(key), self.root / "tmp")

    def remove_dir(self, folder: Path) -> None:
        """Remove an entry directory by path (broken entries have no trustworthy key)."""
        _remove_dir(folder, self.root / "tmp")

    def staging_dir(self) -> Path:
        """A new empty directory under tmp/ for entries made elsewhere (archive imports)."""
        self._make_dirs()
        path = self.root / "tmp" / f"staged-{uuid.uuid4().hex}"
        try:
            path.mkdir(mode=DIR_MODE)
        except FileNotFoundError:  # tmp/ was removed meanwhile (gc, the last remove)
            self._dirs_made = False
            self._make_dirs()
            path.mkdir(mode=DIR_MODE)
        return path

    def adopt(self, folder: Path, key: str) -> bool:
        """Move a complete entry directory (made in staging_dir()) into place by one rename;
        False when an entry for key already exists (folder is left for the caller)."""
        final = self.entry_dir(key)
        self._make_dirs()
        try:
            os.rename(folder, final)
        except OSError:
            if not self.has(key):
                raise
            return False  # written meanwhile by a run: same key, same content
        return True

    def remove_unfinished(self) -> int:
        """Remove leftovers of interrupted writes (tmp/); return the bytes freed."""
        freed = tree_size(self.root / "tmp")
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
        self._dirs_made = False
        return freed

    def clear(self) -> None:
        """Remove every entry and every unfinished write."""
        shutil.rmtree(self.root / "entries", ignore_errors=True)
        self._sound.clear()
        self.remove_unfinished()


def variable_fields(name: str, serializer: str, fname: str, fingerprint: str | None,
                    type_name: str, layout: dict[str, Any], st: os.stat_result) -> dict[str, Any]:
    """A manifest's record of one variable file (layout: sizes, offsets, digest?), stamped
    as written now: its content is what this process wrote, or checked after writing."""
    return {"name": name, "serializer": serializer, "file": fname, **layout,
            "fingerprint": fingerprint, "type": type_name, "written": _file_stamp(st)}


def write_manifest(folder: Path, entry: CacheEntry, variables: list[dict[str, Any]]) -> None:
    """The manifest of entry (its variables' records from variable_fields), checksummed,
    written into folder (an entry being made under tmp/: renamed into place afterwards)."""
    manifest = {
        "format": MANIFEST_FORMAT, "version": format_version(entry.variables),
        "digest": FINGERPRINT,
        "key": entry.key, "component_id": entry.component_id, "name": entry.name,
        "inputs": entry.parent_keys, "key_inputs": entry.inputs,
        "variables": variables, "deleted": entry.deleted,
        "outputs": entry.outputs, "elapsed": entry.elapsed, "created": entry.created,
        "run_of": entry.run_of, "source_file": entry.source_file,
        "python": platform.python_version(), "packages": _package_versions(),
    }
    body = json.loads(json.dumps(manifest, default=repr))
    body["checksum"] = manifest_checksum(body)
    fd = os.open(folder / "manifest.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(body))


def check_entry_private(folder: Path) -> None:
    """Raise UnsafeCacheError unless an entry directory and every file in it are this
    user's and writable by no one else (docs/cli.md, "Trust")."""
    check_private(folder, "cache entry")
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        check_private(folder / name, "cache file")


def tree_size(root: Path) -> int:
    """Bytes of the files under root (0 if it is gone); symlinks are not followed."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _remove_dir(folder: Path, tmp: Path) -> None:
    """Move folder out of entries/ first (one rename), so a reader never sees it half gone."""
    try:
        tmp.mkdir(mode=DIR_MODE, exist_ok=True)
        aside = tmp / f"removed-{uuid.uuid4().hex}"
        os.rename(folder, aside)
    except OSError:
        aside = folder
    shutil.rmtree(aside, ignore_errors=True)
    try:
        tmp.rmdir()  # only when empty: no write is under way
    except OSError:
        pass


def _file_stamp(st: os.stat_result) -> list[int]:
    """What changes whenever a file's bytes do (any write sets its ctime)."""
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


_CHECKED = "checked.json"  # file -> stamp when its content was last hashed and found sound


def _read_checked(folder: Path) -> tuple[dict[str, list[int]], int]:
    """The stamps of files found sound, and when they were recorded (ctime)."""
    try:
        with open(folder / _CHECKED, "rb") as f:
            found = json.loads(f.read())
            at = os.fstat(f.fileno()).st_ctime_ns
    except (OSError, ValueError):
        return {}, 0
    return (found, at) if isinstance(found, dict) else ({}, 0)


def _write_checked(folder: Path, checked: dict[str, list[int]]) -> None:
    """Remember hashed files (a later load skips the hash while they stay untouched)."""
    tmp = folder / f".{_CHECKED}.{uuid.uuid4().hex}"
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "w") as f:
            f.write(json.dumps(checked))
        os.replace(tmp, folder / _CHECKED)
    except OSError:  # a read-only cache is still usable: it is hashed next time again
        tmp.unlink(missing_ok=True)


def manifest_checksum(body: dict[str, Any]) -> str:
    """The digest of a manifest's content (everything but the checksum itself)."""
    content = {k: v for k, v in body.items() if k != "checksum"}
    return digest(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest, checked against its own checksum (entries older than checksums are
    taken as they are). Raises CorruptEntry if it is missing, truncated or altered."""
    key = path.parent.name
    try:
        text = path.read_bytes().decode("utf-8")
        manifest = json.loads(text)
    except FileNotFoundError:
        raise CorruptEntry(key, None, "manifest.json is missing") from None
    except OSError as exc:
        raise CorruptEntry(key, None, f"manifest.json unreadable: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError):
        raise CorruptEntry(key, None, "manifest.json is truncated or not JSON") from None
    if not isinstance(manifest, dict):
        raise CorruptEntry(key, None, "manifest.json is not an object")
    name = manifest.get("name") if isinstance(manifest.get("name"), str) else None
    if "checksum" in manifest and manifest["checksum"] != manifest_checksum(manifest):
        raise CorruptEntry(key, name, "manifest.json was altered")
    if "checksum" not in manifest and manifest.get("digest") == FINGERPRINT:
        raise CorruptEntry(key, name, "manifest.json lost its checksum")
    return manifest


def _write_value(path: str, value: StoredValue) -> dict[str, Any]:
    """Write a value's pickle data, then its buffers at aligned offsets (so a restore can
    map them in place); return the manifest fields that describe the file."""
    data, buffers = value.parts()
    if len(buffers) == 1 and isinstance(buffers[0], Backing) and \
            isinstance(buffers[0].source, str):
        fields = _write_from_file(path, data, buffers[0])
    else:
        fields = _write_parts(path, data, buffers)
    if not _content_hashed(value.fingerprint):  # modules, functions: hash the (small) file
        with open(path, "rb") as f:
            fields["digest"] = digest(f.read())
    return fields


def _write_parts(path: str, data: bytes, buffers: list[Any]) -> dict[str, Any]:
    sizes = [len(data)]
    offsets = [0]
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as f:
        f.write(data)
        pos = len(data)
        for buf in buffers:
            if isinstance(buf, Backing):  # a memfd: copied by the kernel, never mapped here
                start = buffer_layout(pos, [0])[0][0]
                f.flush()
                with backing_fd(buf) as src:
                    copy_range(src, 0, f.fileno(), start, buf.size)
                offsets.extend(start + o for o in buf.offsets)
                sizes.extend(buf.sizes)
                pos = start + buf.size
                f.seek(pos)
                continue
            view = memoryview(buf).cast("B")
            start = buffer_layout(pos, [view.nbytes])[0][0]
            f.write(b"\0" * (start - pos))
            f.write(view)
            offsets.append(start)
            sizes.append(view.nbytes)
            pos = start + view.nbytes
    return {"sizes": sizes, "offsets": offsets}


def _write_from_file(path: str, data: bytes, backing: Backing) -> dict[str, Any]:
    """A value whose buffers are in a verified file (a result imported from a data store,
    a spilled one): that file itself, hard-linked, when it is laid out as this cache lays
    out values, private and on this file system; else its buffers copied by the kernel."""
    offsets, end = buffer_layout(len(data), backing.sizes)
    sizes = [len(data), *backing.sizes]
    if offsets == backing.offsets and end == backing.size and \
            _link_verified(backing, data, path):
        return {"sizes": sizes, "offsets": [0, *offsets]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        write_all(fd, data, 0)
        copy_buffers(backing, fd, offsets)
        os.ftruncate(fd, end)
    finally:
        os.close(fd)
    return {"sizes": sizes, "offsets": [0, *offsets]}


def _link_verified(backing: Backing, data: bytes, path: str) -> bool:
    """Hard-link backing's file to path if it is this user's, private, unchanged since it
    was verified and starts with data (the link shares its bytes: nothing is copied)."""
    source = str(backing.source)
    try:
        st = os.lstat(source)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or \
                st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or backing.stamp is None or \
                (st.st_ino, st.st_size, st.st_mtime_ns) != backing.stamp:
            return False
        with open(source, "rb") as f:
            if f.read(len(data)) != data:
                return False
        os.link(source, path)
    except OSError:  # another file system, links not supported: copied instead
        return False
    return True


def _content_hashed(fingerprint: str | None) -> bool:
    """Whether a fingerprint is the content hash of the value's file (what verifies it)."""
    return isinstance(fingerprint, str) and ":" not in fingerprint


def _read_value(path: Path, var: dict[str, Any],
                stamp: tuple[int, int, int] | None = None) -> StoredValue:
    """A value from its file: the pickle data read, the buffers left in the file, to be
    mapped (copy-on-write) by each consumer."""
    sizes: list[int] = var["sizes"]
    offsets: list[int] = var.get("offsets") or [sum(sizes[:i]) for i in range(len(sizes))]
    with open(path, "rb") as f:
        data = f.read(sizes[0])
        end = os.fstat(f.fileno()).st_size
    if len(data) != sizes[0] or (len(sizes) > 1 and offsets[-1] + sizes[-1] > end):
        raise ValueError(f"{path} is shorter than its manifest says")
    backing = (Backing(str(path), end, offsets[1:], sizes[1:], stamp=stamp)
               if len(sizes) > 1 else None)
    return StoredValue(kind=var["serializer"], fingerprint=var["fingerprint"], data=data,
                       type_name=var.get("type", ""), backing=backing)


def safe_name(name: str) -> str:
    """A file name for a key or cell id (ids are [A-Za-z0-9-_]; anything else is hashed)."""
    if name and all(c.isalnum() or c in "-_" for c in name) and len(name) <= 128:
        return name
    return "h" + hashlib.sha256(name.encode()).hexdigest()[:32]


_PACKAGES: dict[str, str] | None = None


def _package_versions() -> dict[str, str]:
    global _PACKAGES
    if _PACKAGES is None:
        from importlib import metadata

        _PACKAGES = {}
        for name in ("cellpipe", "numpy", "pandas", "cloudpickle", "ipython"):
            try:
                _PACKAGES[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
    return _PACKAGES
