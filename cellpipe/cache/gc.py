"""Cleaning the on-disk cache: entries no component points at any more, old entries, leftovers."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cellpipe.cache.disk import DiskStore, tree_size
from cellpipe.cache.history import RunHistory

SPILL_PREFIX = "cellpipe-spill-"  # + pid + "-": a process's results sent out of memory


@dataclass
class Collected:
    """What `cache gc` removed: entries, leftovers of interrupted writes, and bytes in all."""

    keys: list[str] = field(default_factory=list)
    leftovers: int = 0  # unfinished writes and spill directories of dead processes
    freed: int = 0


def collect_garbage(disk: DiskStore, history: RunHistory,
                    older_than_days: float | None = None) -> Collected:
    """Remove superseded and damaged entries (and those older than N days), unfinished writes
    and the spill directories processes killed with -9 left; compact the history index."""
    done = Collected()
    if (disk.root / "tmp").is_dir():
        done.leftovers += sum(1 for _ in (disk.root / "tmp").iterdir())
    done.freed += disk.remove_unfinished()
    for folder in dead_spill_dirs():
        done.freed += tree_size(folder)
        shutil.rmtree(folder, ignore_errors=True)
        done.leftovers += 1
    live = history.live_keys()
    history.compact()
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    for broken in list(disk.broken()):  # a damaged manifest: the entry cannot be used
        disk.remove_dir(broken.path)
        done.keys.append(broken.path.name)
        done.freed += broken.nbytes
    for info in list(disk.entries()):
        if info.key not in live or (cutoff is not None and info.created < cutoff):
            disk.remove(info.key)
            done.keys.append(info.key)
            done.freed += info.nbytes
    return done


def dead_spill_dirs() -> list[Path]:
    """This user's spill directories (in the temp dir) whose process is gone."""
    found = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        pid = folder.name[len(SPILL_PREFIX):].split("-", 1)[0]
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if not pid.isdigit() or st.st_uid != os.geteuid() or not folder.is_dir() \
                or folder.is_symlink() or _alive(int(pid)):
            continue
        found.append(folder)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
