"""What git runs: `python -m cellpipe.gitnb.driver merge|diff|textconv ...` (see gitsetup).

merge %O %A %B %L %P   writes the merge into %A; exit 0 clean, non-zero to make git stop
diff PATH OLD OLD-HEX OLD-MODE NEW NEW-HEX NEW-MODE   (diff.cellpipe.command, `git diff`)
textconv FILE          the notebook as diffable text (`git log -p`, `git show`)
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # git starts this once per file. nbformat imports jsonschema, whose optional IRI checker
    # (rfc3987_syntax) builds a grammar at import: 2.5 s. Nothing here validates IRIs.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

import difflib  # noqa: E402
import os  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from cellpipe.gitnb.files import (  # noqa: E402
    EXIT_REFUSED,
    FileDiff,
    diff_files,
    merge_files,
    strategy_from_env,
)
from cellpipe.gitnb.load import parse_notebook  # noqa: E402

USAGE = __doc__ or ""


def write_atomically(path: str | Path, text: str) -> None:
    """Replace path's content without ever leaving it half-written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.cellpipe-tmp")
    tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
    os.replace(tmp, path)


def run_merge(base: str, ours: str, theirs: str, out: str, path: str, marker_size: int = 7,
              prefer: str | None = None, names: tuple[str, str, str] | None = None) -> int:
    """Merge three files into out; one-line summary (and notes) to stderr; returns the status.

    `names` say how messages call the three files (default: the versions of `path`, as git
    hands them to the driver); on a refusal out still gets every side's text, in markers.
    """
    warning = None
    if prefer is None:
        prefer, warning = strategy_from_env()
    if warning:
        print(f"cellpipe merge: {warning}", file=sys.stderr)
    try:
        texts = [Path(p).read_bytes() for p in (base, ours, theirs)]
    except OSError as exc:
        print(f"cellpipe merge: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    outcome = merge_files(*texts, path=path, prefer=prefer, marker_size=marker_size,
                          names=names)
    write_atomically(out, outcome.text)
    for note in outcome.notes:
        print(f"cellpipe merge: {note}", file=sys.stderr)
    print(outcome.message, file=sys.stderr)
    return outcome.status


def _colour() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty() or os.environ.get("GIT_PAGER_IN_USE") == "true"


def run_git_diff(path: str, old: str, new: str) -> int:
    """git's external diff: print cellpipe's diff of one notebook; always exits 0."""
    # rich and the renderer load here, not at start-up: git starts this module for every
    # merged notebook too, where they are not needed
    from rich.console import Console

    from cellpipe.gitnb.render import print_diff

    def read(p: str) -> bytes | None:
        return None if p == "/dev/null" else Path(p).read_bytes()

    old_bytes, new_bytes = read(old), read(new)
    try:
        result = diff_files(old_bytes, new_bytes, (f"a/{path}", f"b/{path}"))
    except Exception as exc:  # git stops at a failing diff command: never fail
        result = FileDiff(None, f"cellpipe failed ({type(exc).__name__}: {exc})")
    if result.diff is None:  # not a notebook on one side: a plain line diff
        print(f"cellpipe diff {path}: {result.problem}; showing a line diff")
        lines = difflib.unified_diff(
            (old_bytes or b"").decode(errors="replace").splitlines(),
            (new_bytes or b"").decode(errors="replace").splitlines(),
            f"a/{path}", f"b/{path}", lineterm="")
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    console = Console(force_terminal=_colour(), no_color=not _colour(), highlight=False,
                      soft_wrap=True)
    print_diff(result.diff, console, title=f"cellpipe diff a/{path} b/{path}")
    return 0


def run_textconv(path: str) -> int:
    """Print the text view of a notebook (raw content when it is not one)."""
    from cellpipe.gitnb.render import text_view

    data = Path(path).read_bytes()
    try:
        view = text_view(parse_notebook(data.decode("utf-8"), path).nb)
    except Exception:  # not a notebook (or a bug): git then diffs the raw text
        sys.stdout.buffer.write(data)
        return 0
    sys.stdout.write(view)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["merge"] and len(args) == 6:
        _, base, ours, theirs, size, path = args
        return run_merge(base, ours, theirs, ours, path, int(size or 7))
    if args[:1] == ["diff"] and len(args) in (2, 8):
        if len(args) == 2:  # unmerged path: git passes only the name
            print(f"cellpipe diff {args[1]}: unmerged")
            return 0
        return run_git_diff(args[1], args[2], args[5])
    if args[:1] == ["textconv"] and len(args) == 2:
        return run_textconv(args[1])
    print(USAGE, file=sys.stderr)
    return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
