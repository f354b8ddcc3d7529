"""Every process a task starts ends with the task (DESIGN 5), found by the kernel, not listed.

The process that runs a task makes itself a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`):
an orphan of any descendant, even one that started its own session (`start_new_session=True`,
a daemon's double fork), is reparented to it instead of to init. So when the task ends,
its descendants are exactly the processes under it in `/proc`, and `end_descendants` kills
them all before the task reports its result.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterator

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make orphans of this process's descendants its children; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> set[int]:
    """The live children of pid, as the kernel lists them."""
    found: set[int] = set()
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.update(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every process under pid (children, their children, ...)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()) - found:
            found.add(child)
            todo.append(child)
    return found


def _reap(pids: set[int]) -> None:
    """Collect the exit status of those of pids that are our children and ended (only
    those: a child the backend itself waits for is not ours to reap)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def end_descendants(keep: frozenset[int] = frozenset(), timeout: float = 5.0) -> int:
    """SIGKILL every descendant of this process except keep (and theirs); wait until they
    are gone. A descendant that forks meanwhile is found on the next pass. Returns how
    many processes were killed."""
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        found = set()
        for child in children(me) - keep:
            found |= {child} | descendants(child)
        alive = {p for p in found if _alive(p)}
        if not alive or time.monotonic() > deadline:
            break
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        killed |= alive
        _reap(killed)
        time.sleep(0.01)
    _reap(killed)
    return len(killed)


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not: it only waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@contextlib.contextmanager
def task_processes() -> Iterator[None]:
    """Run a task so that the processes it starts end when the block does.

    Children this process had before the block (a backend's own helpers) are left alone."""
    become_subreaper()
    before = frozenset(children(os.getpid()))
    try:
        yield
    finally:
        end_descendants(keep=before)
