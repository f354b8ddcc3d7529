"""Importing an archive, checked: the manifest (schema, limits, free space) before anything
is written, every member as it streams, the entries' own manifests as the disk store reads
them; staged in the cache's tmp/ and renamed into place only when all of it verified."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cellpipe.cache.archive.format import (
    CHUNK,
    FORMAT,
    MANIFEST,
    MAX_SIZE_ENV,
    MEMBER_NAME,
    SIGNATURE,
    VERSION,
    ArchiveError,
    Limits,
    Progress,
    UnsafeArchive,
    manifest_schema,
)
from cellpipe.cache.archive.keys import sign
from cellpipe.cache.archive.store import disk_of
from cellpipe.cache.disk import MANIFEST_FORMAT as ENTRY_FORMAT
from cellpipe.cache.disk import CorruptEntry, read_manifest
from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.history import RunHistory
from cellpipe.cache.integrity import FINGERPRINT, verify_file
from cellpipe.cache.privacy import make_private_dir
from cellpipe.cache.store import CacheStore


@dataclass
class ArchiveItem:
    """One entry of an archive, as an import sees it."""

    key: str
    component_id: str
    name: str
    size: int
    present: bool = False  # already in the cache
    used_by: str | None = None  # the notebook component whose current key this is


@dataclass
class ImportSummary:
    """What an archive holds and what importing it did (or would do)."""

    entries: list[ArchiveItem]
    total_size: int
    created: float
    python: str
    packages: dict[str, str]
    notebook: str | None
    signed: bool = False
    trusted: bool = False
    dry_run: bool = False
    cancelled: bool = False
    imported: int = 0
    imported_size: int = 0
    hits: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(1 for e in self.entries if e.present)

    @property
    def to_import(self) -> int:
        return len(self.entries) - self.skipped

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "signed": self.signed, "trusted": self.trusted,
            "created": self.created, "python": self.python, "packages": self.packages,
            "notebook": self.notebook, "total_size": self.total_size,
            "entries": [vars(e) for e in self.entries], "imported": self.imported,
            "skipped": self.skipped, "hits": self.hits, "misses": self.misses,
        }


def _bad(member: str, why: str) -> UnsafeArchive:
    return UnsafeArchive(f"refused: member {member!r} {why}; nothing was imported")


def _check_member(info: tarfile.TarInfo) -> None:
    """Refuse links, devices, sparse files and names that could leave the target directory."""
    name = info.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _bad(name, "has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise _bad(name, "has a '..' path component")
    if info.issym():
        raise _bad(name, f"is a symbolic link (to {info.linkname!r})")
    if info.islnk():
        raise _bad(name, f"is a hard link (to {info.linkname!r})")
    if info.ischr() or info.isblk() or info.isfifo():
        raise _bad(name, "is a device or pipe")
    if info.issparse():
        raise _bad(name, "is a sparse file")
    if not info.isreg():
        raise _bad(name, "is not a regular file")


class _HeaderBudget(io.RawIOBase):
    """The decompressed stream, refusing to feed tarfile more than `budget` bytes while it
    parses a member's headers: tarfile reads a pax or GNU long-name header whole into
    memory, so a header announcing gigabytes would be a memory bomb."""

    HEADER_LIMIT = 4 * CHUNK  # tarfile reads ahead in CHUNK blocks; headers are tiny

    def __init__(self, gz: IO[bytes]) -> None:
        self.gz = gz
        self.budget: int | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.gz.read(size)
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise UnsafeArchive("refused: a member's tar headers are larger than "
                                    f"{self.HEADER_LIMIT} bytes; nothing was imported")
        return data


class _Reader:
    """Reads an archive member by member from a gzip stream (no whole archive in memory)."""

    TRAILING_LIMIT = CHUNK  # tar pads its end to a 10 KiB record

    def __init__(self, raw: IO[bytes]) -> None:
        self.gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self.stream = _HeaderBudget(self.gz)
        self.tar = tarfile.open(fileobj=self.stream, mode="r|",  # type: ignore[call-overload]
                                bufsize=CHUNK)

    def members(self) -> Iterator[tarfile.TarInfo]:
        while True:
            self.stream.budget = _HeaderBudget.HEADER_LIMIT
            try:
                info = self.tar.next()
            finally:
                self.stream.budget = None
            if info is None:
                return
            yield info

    def chunks(self, info: tarfile.TarInfo) -> Iterator[bytes]:
        src = self.tar.extractfile(info)
        assert src is not None
        left = info.size
        while left:
            block = src.read(min(CHUNK, left))
            if not block:
                raise ArchiveError(f"the archive ends inside {info.name!r} (truncated)")
            left -= len(block)
            yield block

    def read_small(self, info: tarfile.TarInfo, limit: int) -> bytes:
        if info.size > limit:
            raise _bad(info.name, f"is {info.size} bytes, above the {limit} byte limit")
        return b"".join(self.chunks(info))

    def finish(self) -> None:
        """Read to the end of the gzip stream, so its checksum and length are verified."""
        trailing = 0
        while block := self.gz.read(CHUNK):
            trailing += len(block)
            if trailing > self.TRAILING_LIMIT:  # never extracted, but no reason to inflate it
                raise UnsafeArchive("refused: more than 1 MiB of data follows the end of the "
                                    "tar archive; nothing was imported")


def _parse_manifest(data: bytes, limits: Limits) -> dict[str, Any]:
    import jsonschema
    from jsonschema.exceptions import best_match

    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _bad(MANIFEST, "is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UnsafeArchive(f"not a cellpipe cache archive: {MANIFEST} has format "
                            f"{manifest.get('format') if isinstance(manifest, dict) else None!r}")
    version = manifest.get("version")
    if isinstance(version, int) and version > VERSION:
        raise ArchiveError(f"cache archive version {version} was written by a newer cellpipe; "
                           f"this one reads version {VERSION}. Upgrade cellpipe")
    _check_counts(manifest, limits)  # before the schema: validating 10^6 items takes minutes
    error = best_match(jsonschema.Draft202012Validator(manifest_schema()).iter_errors(manifest))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = re.sub(r"\s+", " ", error.message)[:160]
        raise _bad(MANIFEST, f"is malformed at {where.lstrip('.') or 'top level'}: {message}")
    entries = manifest["entries"]
    if len(entries) != manifest["entry_count"]:
        raise _bad(MANIFEST, f"says {manifest['entry_count']} entries but lists {len(entries)}")
    keys: set[str] = set()
    total = 0
    for entry in entries:
        where = f"entries/{entry['key']}"
        if entry["key"] in keys:
            raise _bad(where, "is listed twice in the manifest")
        keys.add(entry["key"])
        names = [f["name"] for f in entry["files"]]
        if len(set(names)) != len(names) or MANIFEST not in names:
            raise _bad(where, "lists a file twice, or no manifest.json")
        for name in names:
            if not MEMBER_NAME.match(name):
                raise _bad(f"{where}/{name}", "has a file name that is not allowed")
        size = sum(f["size"] for f in entry["files"])
        if size != entry["size"]:
            raise _bad(where, f"says it holds {entry['size']} bytes but its files hold {size}")
        total += size
    if total != manifest["total_size"]:
        raise _bad(MANIFEST, f"says the entries hold {manifest['total_size']} bytes, but they "
                             f"hold {total}")
    if total > limits.max_total_size:
        raise _bad(MANIFEST, f"announces {total} bytes of entries, above the limit of "
                             f"{limits.max_total_size} (raise it with --max-size or "
                             f"${MAX_SIZE_ENV} if you expect an archive this big)")
    return manifest


def _check_counts(manifest: dict[str, Any], limits: Limits) -> None:
    """Refuse a manifest listing more entries or files than the limits allow."""
    entries = manifest.get("entries")
    if not isinstance(entries, list):
        return  # the schema says what is wrong
    if len(entries) > limits.max_entries:
        raise _bad(MANIFEST, f"lists {len(entries)} entries, above the limit of "
                             f"{limits.max_entries}")
    files = sum(len(e["files"]) for e in entries
                if isinstance(e, dict) and isinstance(e.get("files"), list))
    if files > limits.max_members:
        raise _bad(MANIFEST, f"lists {files} files, above the limit of {limits.max_members} "
                             "members")


def _free_space(root: Path) -> int:
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def import_archive(path: Path, store: CacheStore, *, dry_run: bool = False,
                   confirm: Callable[[ImportSummary], bool] | None = None,
                   limits: Limits | None = None,
                   usage: Mapping[str, tuple[str, str]] | None = None,
                   verify_key: bytes | None = None,
                   progress: Progress | None = None, scope: str = "") -> ImportSummary:
    """Check and import the archive at path into store's disk cache.

    confirm is asked (with the summary) before anything is written, unless the archive is
    signed with verify_key or this is a dry run; answering False imports nothing
    (summary.cancelled). usage (component id -> (name, key), see
    engine.sharing.planned_keys) fills in which components the entries serve; scope is the notebook whose run history records the
    imported entries (so `cache gc` keeps them). Raises UnsafeArchive or ArchiveError."""
    limits = limits or Limits.default()
    disk = disk_of(store)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise ArchiveError(f"{path}: {exc.strerror}") from None
    staging: Path | None = None
    try:
        reader = _Reader(raw)
        members = reader.members()
        first = next(members, None)
        if first is None or first.name != MANIFEST:
            raise UnsafeArchive(f"{path}: not a cellpipe cache archive (its first member must "
                                f"be {MANIFEST}, found {first.name if first else 'nothing'!r})")
        _check_member(first)
        manifest_bytes = reader.read_small(first, limits.max_manifest_size)
        manifest = _parse_manifest(manifest_bytes, limits)
        summary = _summary(manifest, disk, usage, dry_run)
        info = next(members, None)
        if info is not None and info.name == SIGNATURE:
            _check_member(info)
            signature = reader.read_small(info, 1024).decode("ascii", "replace").strip()
            summary.signed = True
            summary.trusted = bool(verify_key) and hmac.compare_digest(
                signature, sign(manifest_bytes, verify_key or b""))
            info = next(members, None)
        needed = summary.total_size - sum(e.size for e in summary.entries if e.present)
        if needed > _free_space(disk.root) - (64 << 20):
            raise ArchiveError(f"{path}: the entries need {needed} bytes but the cache "
                               f"directory {disk.root} has {_free_space(disk.root)} free")
        if not dry_run and not summary.trusted and confirm is not None and not confirm(summary):
            summary.cancelled = True
            return summary
        # a dry run stages too (and removes what it staged): the checks of the entries' own
        # manifests read the files, so it refuses exactly what an import refuses
        staging = _dry_run_dir(disk) if dry_run else disk.staging_dir()
        expected = {
            f"entries/{e['key']}/{f['name']}": (e, f) for e in manifest["entries"]
            for f in e["files"]
        }
        present = {e.key for e in summary.entries if e.present}
        done = 0
        while info is not None:
            _check_member(info)
            if info.name not in expected:
                raise _bad(info.name, "is not announced by the manifest (or appears twice)")
            entry, spec = expected.pop(info.name)
            if info.size != spec["size"]:
                raise _bad(info.name, f"is {info.size} bytes but the manifest says "
                                      f"{spec['size']}")
            target = None
            if entry["key"] not in present:
                folder = staging / entry["key"]
                folder.mkdir(mode=0o700, exist_ok=True)  # the cache is private
                target = folder / spec["name"]
            digest = _copy_verified(reader, info, target, progress, done, summary.total_size)
            done += info.size
            if digest != spec["sha256"]:
                raise _bad(info.name, "does not match its sha256 in the manifest (corrupted "
                                      "or altered)")
            info = next(members, None)
        if expected:
            raise _bad(next(iter(expected)), "is announced by the manifest but missing from the "
                                             "archive")
        reader.finish()
        listed = {e["key"]: e for e in manifest["entries"]}
        for item in summary.entries:
            _check_entry_manifest(staging, item, listed[item.key])
        if not dry_run:
            _install(disk, staging, summary, manifest, usage, scope)
        return summary
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{path}: the archive is truncated or corrupted ({exc}); nothing "
                           "was imported") from None
    except OSError as exc:  # disk full, permissions
        raise ArchiveError(f"{path}: {exc}; nothing was imported") from None
    finally:
        raw.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _dry_run_dir(disk: Any) -> Path:
    """A private directory under the cache's tmp/ for a dry run (no entries/ is made)."""
    import tempfile

    disk.check_private()
    make_private_dir(disk.root / "tmp")
    return Path(tempfile.mkdtemp(prefix="dry-run-", dir=disk.root / "tmp"))


def _summary(manifest: dict[str, Any], disk: Any,
             usage: Mapping[str, tuple[str, str]] | None, dry_run: bool) -> ImportSummary:
    by_key = {key: name for name, key in (usage or {}).values()}
    items = [
        ArchiveItem(e["key"], e["component_id"], e["name"], e["size"],
                    present=disk.has(e["key"]), used_by=by_key.get(e["key"]))
        for e in manifest["entries"]
    ]
    summary = ImportSummary(items, manifest["total_size"], manifest["created"],
                            manifest["python"], manifest["packages"], manifest.get("notebook"),
                            dry_run=dry_run)
    if usage:
        keys = {e.key for e in items}
        for name, key in usage.values():
            (summary.hits if key in keys or disk.has(key) else summary.misses).append(name)
    return summary


def _copy_verified(reader: _Reader, info: tarfile.TarInfo, target: Path | None,
                   progress: Progress | None, done: int, total: int) -> str:
    """Stream a member into target (or nowhere), returning its sha256."""
    h = hashlib.sha256()
    out = None
    if target is not None:  # private, like every cache file (pickles run code)
        out = open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")  # noqa: SIM115
    try:
        for block in reader.chunks(info):
            h.update(block)
            if out is not None:
                out.write(block)
            done += len(block)
            if progress:
                progress(done, total)
    finally:
        if out is not None:
            out.close()
    return h.hexdigest()


def _check_entry_manifest(staging: Path, item: ArchiveItem, listed: dict[str, Any]) -> None:
    """A staged entry must be what the disk store will accept: its own manifest intact, for
    this key, listing exactly its files, each matching the checksum that manifest carries
    (checked here by the disk store's own rules, so an import never brings a damaged entry)."""
    if item.present:
        return
    folder = staging / item.key
    where = f"entries/{item.key}/{MANIFEST}"
    try:
        inner = read_manifest(folder / MANIFEST)
        files = {v["file"] for v in inner["variables"]}
        ok = inner.get("format") == ENTRY_FORMAT and inner.get("key") == item.key
    except CorruptEntry as exc:
        raise _bad(where, f"is not usable ({exc.reason})") from None
    except (KeyError, TypeError):
        raise _bad(where, "is not a cache entry manifest") from None
    if not ok or files | {MANIFEST} != {f["name"] for f in listed["files"]}:
        raise _bad(where, "does not describe the entry the archive manifest lists")
    algorithm = inner.get("digest", "sha256")
    if algorithm not in (FINGERPRINT, "sha256"):
        raise _bad(where, f"checks its files with {algorithm!r}, which this cellpipe does not "
                          "know (written by a newer cellpipe? upgrade)")
    for var in inner["variables"]:
        try:
            sound = verify_file(folder / var["file"], var, algorithm) is not None
        except (KeyError, TypeError, ValueError, IndexError):
            sound = False
        if not sound:
            raise _bad(f"entries/{item.key}/{var['file']}",
                       f"does not match the {algorithm} its entry's manifest.json records")


def _install(disk: Any, staging: Path, summary: ImportSummary, manifest: dict[str, Any],
             usage: Mapping[str, tuple[str, str]] | None, scope: str) -> None:
    """Rename every staged entry into place and record it in the run history."""
    for item in summary.entries:
        if item.present:
            continue
        if not disk.adopt(staging / item.key, item.key):
            item.present = True  # written meanwhile by a run: same key, same content
            continue
        summary.imported += 1
        summary.imported_size += item.size
    # the run history's index is what `cache gc` keeps: record every imported entry there
    history = RunHistory(disk.root, scope=scope)
    by_key = {key: cid for cid, (_name, key) in (usage or {}).items()}
    for entry in manifest["entries"]:
        inner = json.loads((disk.entry_dir(entry["key"]) / MANIFEST).read_text("utf-8"))
        history.append(CacheEntry(
            key=entry["key"], component_id=by_key.get(entry["key"], entry["component_id"]),
            name=entry["name"], parent_keys=inner.get("inputs", []), variables={},
            inputs=inner.get("key_inputs", {}), scope=scope,
        ))
