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
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.values import Backing, StoredValue, buffer_layout

MANIFEST_FORMAT = "cellpipe.cache-entry"
MANIFEST_VERSION = 1


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


class DiskStore:
    """Entries by key in a directory; reads load the whole entry, writes are atomic."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._dirs_made = False

    def entry_dir(self, key: str) -> Path:
        """Where the entry for key lives (whether or not it exists)."""
        return self.root / "entries" / safe_name(key)

    def has(self, key: str) -> bool:
        return (self.entry_dir(key) / "manifest.json").exists()

    def pin(self, keys: Iterable[str]) -> None:
        """Nothing on disk is evicted during a run."""

    def put(self, entry: CacheEntry) -> None:
        self.write(entry)

    def write(self, entry: CacheEntry) -> Path:
        """Write entry atomically (temp dir, then rename); return its directory."""
        final = self.entry_dir(entry.key)
        if (final / "manifest.json").exists():
            return final
        if not self._dirs_made:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            (self.root / "entries").mkdir(parents=True, exist_ok=True)
            self._dirs_made = True
        tmp = os.path.join(self.root, "tmp", f"{safe_name(entry.key)}.{uuid.uuid4().hex}")
        os.mkdir(tmp)
        try:
            variables = []
            for i, (name, value) in enumerate(entry.variables.items()):
                fname = f"var{i}.bin"
                variables.append({"name": name, "serializer": value.serializer, "file": fname,
                                  **_write_value(os.path.join(tmp, fname), value),
                                  "fingerprint": value.fingerprint, "type": value.type_name})
            manifest = {
                "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                "key": entry.key, "component_id": entry.component_id, "name": entry.name,
                "inputs": entry.parent_keys, "key_inputs": entry.inputs,
                "variables": variables, "deleted": entry.deleted,
                "outputs": entry.outputs, "elapsed": entry.elapsed, "created": entry.created,
                "run_of": entry.run_of, "source_file": entry.source_file,
                "python": platform.python_version(), "packages": _package_versions(),
            }
            with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps(manifest, default=repr))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "manifest.json").exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # written meanwhile by another kernel
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def get(self, key: str) -> CacheEntry | None:
        """The entry read from disk, or None if absent or of another format."""
        folder = self.entry_dir(key)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
            return None
        variables: dict[str, StoredValue] = {}
        try:
            for var in manifest["variables"]:
                variables[var["name"]] = _read_value(folder / var["file"], var)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is no entry: it is computed again
        return CacheEntry(
            key=manifest["key"], component_id=manifest["component_id"], name=manifest["name"],
            parent_keys=manifest["inputs"], variables=variables, deleted=manifest["deleted"],
            outputs=manifest["outputs"], elapsed=manifest["elapsed"],
            created=manifest["created"], run_of=manifest.get("run_of"),
            inputs=manifest.get("key_inputs", {}), source_file=manifest.get("source_file"),
        )

    def entries(self) -> Iterator[EntryInfo]:
        """Every complete entry on disk, sorted by directory name."""
        for folder in sorted((self.root / "entries").glob("*")):
            try:
                m = json.loads((folder / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            size = sum(p.stat().st_size for p in folder.iterdir())
            yield EntryInfo(m["key"], m["component_id"], m["name"], size, m["created"],
                            [v["name"] for v in m["variables"]])

    def remove(self, key: str) -> None:
        shutil.rmtree(self.entry_dir(key), ignore_errors=True)

    def staging_dir(self) -> Path:
        """A new empty directory under tmp/ for entries made elsewhere (archive imports)."""
        path = self.root / "tmp" / f"staged-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def adopt(self, folder: Path, key: str) -> bool:
        """Move a complete entry directory (made in staging_dir()) into place by one rename;
        False when an entry for key already exists (folder is left for the caller)."""
        final = self.entry_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(folder, final)
        except OSError:
            if not self.has(key):
                raise
            return False  # written meanwhile by a run: same key, same content
        return True

    def remove_unfinished(self) -> None:
        """Remove leftovers of interrupted writes (tmp/)."""
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
        self._dirs_made = False

    def clear(self) -> None:
        """Remove every entry and every unfinished write."""
        shutil.rmtree(self.root / "entries", ignore_errors=True)
        self.remove_unfinished()


def _write_value(path: str, value: StoredValue) -> dict[str, Any]:
    """Write a value's pickle data, then its buffers at aligned offsets (so a restore can
    map them in place); return the manifest fields that describe the file."""
    data, buffers = value.parts()
    sizes = [len(data)]
    offsets = [0]
    with open(path, "wb") as f:
        f.write(data)
        pos = len(data)
        for buf in buffers:
            if isinstance(buf, Backing):  # a memfd: copied by the kernel, never mapped here
                start = buffer_layout(pos, [0])[0][0]
                f.flush()
                buf.copy_into(f.fileno(), start)
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


def _read_value(path: Path, var: dict[str, Any]) -> StoredValue:
    """A value from its file: the pickle data read, the buffers left in the file, to be
    mapped (copy-on-write) by each consumer."""
    sizes: list[int] = var["sizes"]
    offsets: list[int] = var.get("offsets") or [sum(sizes[:i]) for i in range(len(sizes))]
    with open(path, "rb") as f:
        data = f.read(sizes[0])
        end = os.fstat(f.fileno()).st_size
    if len(data) != sizes[0] or (len(sizes) > 1 and offsets[-1] + sizes[-1] > end):
        raise ValueError(f"{path} is shorter than its manifest says")
    backing = Backing(str(path), end, offsets[1:], sizes[1:]) if len(sizes) > 1 else None
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
