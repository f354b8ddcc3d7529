"""A notebook's history: the commits that touched it, each with its pipeline-level summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cellpipe.gitnb.files import diff_files
from cellpipe.gitnb.gitio import read_blobs, repo_path, run_git


@dataclass
class HistoryEntry:
    """One commit that changed the notebook, and what changed in its pipeline."""

    commit: str
    parent: str | None
    author: str
    date: str
    subject: str
    path: str
    status: str  # added | modified | deleted | renamed
    summary: str
    components_changed: int
    edges_added: int
    edges_removed: int
    cells_changed: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def notebook_history(notebook: str | Path, limit: int | None = None,
                     rev: str = "HEAD") -> list[HistoryEntry]:
    """Newest first: commits reachable from rev that touched the notebook (renames followed)."""
    root, rel = repo_path(notebook)
    args = ["log", "--follow", "--format=%x1e%H%x1f%P%x1f%an%x1f%aI%x1f%s", "--name-status"]
    if limit:
        args.append(f"-n{limit}")
    raw = run_git([*args, rev, "--", rel], root).decode(errors="replace")
    commits = []
    for record in raw.split("\x1e")[1:]:
        head, _, changes = record.partition("\n")
        sha, parents, author, date, subject = head.split("\x1f", 4)
        path, old_path, status = rel, rel, "modified"
        for line in changes.strip().splitlines():
            fields = line.split("\t")
            if fields[0].startswith("R") and len(fields) == 3:
                old_path, path, status = fields[1], fields[2], "renamed"
            elif fields[0] in ("A", "D", "M") and len(fields) == 2:
                path = old_path = fields[1]
                status = {"A": "added", "D": "deleted", "M": "modified"}[fields[0]]
        parent = parents.split()[0] if parents.strip() else None
        commits.append((sha, parent, author, date, subject, path, old_path, status))
        rel = old_path  # older commits know the file by its old name
    specs = []
    for sha, parent, *_rest, path, old_path, _status in commits:
        specs += [f"{parent}:{old_path}" if parent else "", f"{sha}:{path}"]
    blobs = read_blobs(root, [s for s in specs if s])
    it = iter(blobs)
    entries = []
    for (sha, parent, author, date, subject, path, _old, status), (before_spec, _after) in zip(
        commits, zip(specs[::2], specs[1::2], strict=True), strict=True
    ):
        before = next(it) if before_spec else None
        after = next(it)
        result = diff_files(before, after, (f"{path}@{(parent or '')[:8]}", f"{path}@{sha[:8]}"))
        d = result.diff
        if d is None:
            summary, counts = f"not a readable notebook here: {result.problem}", (0, 0, 0, 0)
        else:
            summary = d.summary()
            counts = (d.components_changed, len(d.edges_added), len(d.edges_removed),
                      len(d.changed))
        entries.append(HistoryEntry(sha, parent, author, date, subject, path, status, summary,
                                    *counts))
    return entries
