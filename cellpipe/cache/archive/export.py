"""Writing an archive: the on-disk entries of planned steps (a Selection), their checksums,
the manifest (signed with the user's key when there is one), then the entries' files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.cache.archive.format import (
    CHUNK,
    DEFAULT_LEVEL,
    FORMAT,
    MANIFEST,
    SIGNATURE,
    VERSION,
    Progress,
)
from cellpipe.cache.archive.gzip_writer import ChunkedGzipWriter
from cellpipe.cache.archive.keys import sign
from cellpipe.cache.archive.store import disk_of
from cellpipe.cache.disk import _package_versions
from cellpipe.cache.store import CacheStore


@dataclass
class ArchiveFile:
    name: str
    path: Path
    size: int
    sha256: str = ""


@dataclass
class ExportEntry:
    """An on-disk entry to put in an archive."""

    key: str
    component_id: str
    name: str
    files: list[ArchiveFile]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Missing:
    """A chosen component without a current result on disk."""

    component_id: str
    name: str
    reason: str


@dataclass
class Selection:
    """The entries an export writes, and the chosen components it cannot include."""

    entries: list[ExportEntry]
    missing: list[Missing] = field(default_factory=list)

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)


def selection(store: CacheStore, steps: Iterable[Any]) -> Selection:
    """The on-disk entries of planned steps (id, name, key, action, reason; in the order
    given), one per key; the steps without a complete entry on disk are `missing`."""
    chosen = Selection([])
    seen: set[str] = set()
    for step in steps:
        if step.key in seen:  # same code and inputs: one entry serves both
            continue
        seen.add(step.key)
        files = entry_files(disk_of(store).entry_dir(step.key))
        if files is None:
            chosen.missing.append(Missing(step.id, step.name, _why_missing(step)))
        else:
            chosen.entries.append(ExportEntry(step.key, step.id, step.name, files))
    return chosen


def _why_missing(step: Any) -> str:
    if step.action == "cache":  # in memory only: another process holds it
        return "its result is not on disk (not cacheable, or persist is off)"
    return f"no current result on disk ({step.reason}); run it first"


def entry_files(folder: Path) -> list[ArchiveFile] | None:
    """The files of a complete entry directory (manifest first), or None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        names = [MANIFEST, *(v["file"] for v in manifest["variables"])]
        return [ArchiveFile(n, folder / n, (folder / n).stat().st_size) for n in names]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sha256_files(entries: list[ExportEntry], progress: Progress | None, total: int) -> None:
    done = 0
    for entry in entries:
        for f in entry.files:
            h = hashlib.sha256()
            with open(f.path, "rb", buffering=0) as src:
                while block := src.read(CHUNK):
                    h.update(block)
            f.sha256 = h.hexdigest()
            done += f.size
            if progress:
                progress(done, total)


def archive_manifest(selection: Selection, notebook_name: str | None,
                     level: int) -> dict[str, Any]:
    """The top-level manifest of an archive of selection (checksums already computed)."""
    return {
        "format": FORMAT, "version": VERSION, "created": time.time(),
        "python": platform.python_version(), "packages": _package_versions(),
        "notebook": notebook_name, "compression": {"gzip": level},
        "total_size": selection.total_size, "entry_count": len(selection.entries),
        "entries": [
            {"key": e.key, "component_id": e.component_id, "name": e.name, "size": e.size,
             "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in e.files]}
            for e in selection.entries
        ],
    }


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info


def export_archive(selection: Selection, out: Path, *, level: int = DEFAULT_LEVEL,
                   sign_key: bytes | None = None, notebook_name: str | None = None,
                   progress: Progress | None = None) -> int:
    """Write selection to out (.tar.gz, atomically); return the archive's size in bytes."""
    total = selection.total_size
    # checksums first (the manifest leads the archive), then the data: 2 passes, 1 progress
    _sha256_files(selection.entries, (lambda d, t: progress(d // 8, total)) if progress else None,
                  total)
    manifest = json.dumps(archive_manifest(selection, notebook_name, level), sort_keys=True,
                          indent=1).encode()
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as raw:
            gz = ChunkedGzipWriter(raw, level)
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                              copybufsize=CHUNK) as tar:
                tar.addfile(_member(MANIFEST, len(manifest)), io.BytesIO(manifest))
                if sign_key:
                    signature = sign(manifest, sign_key).encode()
                    tar.addfile(_member(SIGNATURE, len(signature)), io.BytesIO(signature))
                done = 0
                for entry in selection.entries:
                    for f in entry.files:
                        with open(f.path, "rb") as src:
                            tar.addfile(_member(f"entries/{entry.key}/{f.name}", f.size), src)
                        done += f.size
                        if progress:
                            progress(total // 8 + done * 7 // 8, total)
            gz.close()
            written = gz.written
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written
