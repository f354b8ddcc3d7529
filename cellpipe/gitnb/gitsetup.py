"""`cellpipe git-setup`: register cellpipe's diff and merge drivers with git (idempotent).

The drivers run `<this python> -m cellpipe.gitnb.driver ...` by absolute path, so they work
from any shell, virtualenv activated or not.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cellpipe.gitnb.gitio import GitError, repo_root, run_git

ATTRIBUTES_LINE = "*.ipynb diff=cellpipe merge=cellpipe"
NBDIME_DRIVER = "jupyternotebook"


def driver_command(action: str) -> str:
    """The shell command git runs for a driver action (merge, diff, textconv)."""
    return f"{shlex.quote(sys.executable)} -m cellpipe.gitnb.driver {action}"


def driver_config() -> dict[str, str]:
    """The git config entries for both drivers."""
    return {
        "merge.cellpipe.name": "cellpipe: notebook merge, cell by cell and edge by edge",
        "merge.cellpipe.driver": driver_command("merge") + " %O %A %B %L %P",
        "diff.cellpipe.command": driver_command("diff"),
        "diff.cellpipe.textconv": driver_command("textconv"),
    }


@dataclass
class SetupReport:
    """What git-setup did (done) and what the user should know (warnings)."""

    done: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def global_attributes_file(cwd: str | Path = ".") -> Path:
    """The user's attributes file: core.attributesFile, else $XDG_CONFIG_HOME/git/attributes."""
    try:
        configured = run_git(["config", "--global", "--path", "core.attributesFile"], cwd)
        if configured.strip():
            return Path(configured.decode().strip()).expanduser()
    except GitError:
        pass
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "git" / "attributes"


def _attributes_file(cwd: Path, global_: bool) -> Path:
    return global_attributes_file(cwd) if global_ else repo_root(cwd) / ".gitattributes"


def _ours(line: str) -> bool:
    return line.strip() == ATTRIBUTES_LINE


def install(cwd: str | Path = ".", global_: bool = False) -> SetupReport:
    """Write the attributes line and the driver config; warn about nbdime's drivers."""
    cwd = Path(cwd)
    report = SetupReport()
    scope = ["--global"] if global_ else []
    for key, value in driver_config().items():
        run_git(["config", *scope, key, value], cwd)
    report.done.append(f"git config{' --global' if global_ else ''}: merge.cellpipe and "
                       "diff.cellpipe drivers set")
    path = _attributes_file(cwd, global_)
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if not _ours(line)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*kept, ATTRIBUTES_LINE]) + "\n")  # last line wins in a file
    report.done.append(f"{path}: {ATTRIBUTES_LINE}")
    report.warnings += nbdime_warnings(cwd)
    return report


def uninstall(cwd: str | Path = ".", global_: bool = False) -> SetupReport:
    """Remove what install wrote (other attributes and config are left alone)."""
    cwd = Path(cwd)
    report = SetupReport()
    scope = ["--global"] if global_ else []
    for section in ("merge.cellpipe", "diff.cellpipe"):
        try:
            run_git(["config", *scope, "--remove-section", section], cwd)
            report.done.append(f"git config{' --global' if global_ else ''}: removed {section}")
        except GitError:
            pass  # not there: nothing to undo
    path = _attributes_file(cwd, global_)
    if path.exists():
        lines = path.read_text().splitlines()
        kept = [line for line in lines if not _ours(line)]
        if len(kept) != len(lines):
            if any(line.strip() for line in kept):
                path.write_text("\n".join(kept) + "\n")
            else:
                path.unlink()
            report.done.append(f"{path}: removed {ATTRIBUTES_LINE}")
    return report


def nbdime_warnings(cwd: Path) -> list[str]:
    """Warnings naming where nbdime's drivers are configured and which driver git will use."""
    found = []
    try:
        config = run_git(["config", "--show-origin", "--get-regexp",
                          rf"^(diff|merge)\.{NBDIME_DRIVER}\."], cwd).decode()
        origins = sorted({line.split("\t")[0] for line in config.splitlines() if line})
        found += [f"nbdime's driver config in {o.removeprefix('file:')}" for o in origins]
    except GitError:
        pass  # no match: git config exits 1
    attribute_files = [global_attributes_file(cwd)]
    try:
        root = repo_root(cwd)
        attribute_files += [root / ".gitattributes", root / ".git" / "info" / "attributes"]
    except GitError:
        root = None
    for path in attribute_files:
        if path.exists() and NBDIME_DRIVER in path.read_text():
            found.append(f"nbdime's attributes in {path}")
    if not found:
        return []
    winner = _effective_drivers(root)
    return [
        "nbdime's git drivers are also configured: " + "; ".join(found) + ". "
        + (f"For *.ipynb here git uses {winner} (attributes: a repository's .gitattributes "
           "overrides the global file, .git/info/attributes overrides both, and later lines "
           "override earlier ones). " if winner else
           "Inside a repository its .gitattributes overrides the global attributes file. ")
        + "Run `nbdime config-git --disable` (add --global if needed) to remove nbdime's."
    ]


def _effective_drivers(root: Path | None) -> str | None:
    if root is None:
        return None
    try:
        out = run_git(["check-attr", "diff", "merge", "--", "cellpipe-probe.ipynb"], root)
    except GitError:
        return None
    values = [line.rsplit(": ", 1)[-1] for line in out.decode().splitlines()]
    return " and ".join(f"{kind}={value}" for kind, value in zip(("diff", "merge"), values,
                                                                   strict=False))
