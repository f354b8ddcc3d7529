"""Showing diffs to people: coloured terminal text, and the plain text view git's textconv uses."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.text import Text

from cellpipe.gitnb.cells import component_of, components_of, parameters_of, source_of
from cellpipe.gitnb.diff import CellChange, NotebookDiff
from cellpipe.model.text import printable

STYLES = {"+": "green", "-": "red", "~": "yellow", ">": "cyan", "@": "cyan"}


def _label(diff: NotebookDiff, c: CellChange) -> str:
    if c.is_component:
        return f'component "{c.name}" (id {c.id})'
    return f"{c.cell_type} cell (id {c.id})"


def _params(value: Any) -> str:
    if not isinstance(value, dict):
        return json.dumps(value)
    return f"{json.dumps(value.get('value'))} ({value.get('type', '?')})"


def cell_facts(diff: NotebookDiff, c: CellChange) -> list[str]:
    """The short facts about a changed cell: 'code changed', 'moved', 'parents +a', ..."""
    facts = []
    if c.status in ("added", "removed"):
        facts.append(c.status)
    if c.code_changed and c.status == "changed":
        facts.append("code changed" if c.cell_type == "code" else "text changed")
    if c.moved:
        facts.append("moved")
    if c.renamed:
        facts.append(f'renamed "{c.old_name}" -> "{c.name}"')
    if c.component == (False, True) and c.status == "changed":
        facts.append("became a component")
    if c.component == (True, False) and c.status == "changed":
        facts.append("no longer a component")
    edges = [f"+{diff.name(p)}" for p in c.parents_added]
    edges += [f"-{diff.name(p)}" for p in c.parents_removed]
    if edges and c.status == "changed":
        facts.append("parents " + " ".join(edges))
    if c.worker and c.status == "changed":
        old, new = c.worker
        facts.append(f"worker {old or 'local'} -> {new or 'local'}")
    if c.metadata_changed:
        facts.append("metadata changed")
    if c.outputs_changed and c.status != "added" and c.status != "removed":
        facts.append("outputs changed")
    return facts


def code_diff_lines(c: CellChange, context: int = 3) -> list[str]:
    """A unified line diff of the cell's source (whole source for added/removed cells)."""
    old = c.old_source.splitlines()
    new = c.new_source.splitlines()
    if c.status == "added":
        return ["+" + line for line in new]
    if c.status == "removed":
        return ["-" + line for line in old]
    return [line for line in difflib.unified_diff(old, new, n=context, lineterm="")][2:]


def _outputs_text(outputs: list[Any]) -> list[str]:
    lines = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream":
            text = out.get("text", "")
        elif out.get("output_type") == "error":
            text = f"{out.get('ename')}: {out.get('evalue')}"
        else:
            data = out.get("data", {})
            text = data.get("text/plain") or " ".join(f"<{k}>" for k in data)
        lines += ("".join(text) if isinstance(text, list) else str(text)).splitlines()
    return lines


def diff_lines(diff: NotebookDiff, outputs: bool = False,
               title: str | None = None) -> list[tuple[str, str]]:
    """The terminal view as (text, style) lines; style '' for plain."""
    out: list[tuple[str, str]] = []
    if title:
        out.append((title, "bold"))
    out.append((f"pipeline: {diff.summary()}", "bold"))
    if diff.parameters:
        out.append(("parameters:", "bold"))
        for p in diff.parameters:
            if p.old is None:
                out.append((f"  + {p.name} = {_params(p.new)}", STYLES["+"]))
            elif p.new is None:
                out.append((f"  - {p.name} = {_params(p.old)}", STYLES["-"]))
            else:
                out.append((f"  ~ {p.name}: {_params(p.old)} -> {_params(p.new)}", STYLES["~"]))
    if diff.edges_added or diff.edges_removed:
        out.append(("edges:", "bold"))
        for parent, child in diff.edges_added:
            out.append((f"  + {diff.name(parent)} -> {diff.name(child)}", STYLES["+"]))
        for parent, child in diff.edges_removed:
            out.append((f"  - {diff.name(parent)} -> {diff.name(child)}", STYLES["-"]))
    changed = [c for c in diff.cells
               if c.status != "same" or c.moved or (outputs and c.outputs_changed)]
    if changed:
        out.append(("cells:", "bold"))
    for c in changed:
        mark = {"added": "+", "removed": "-"}.get(c.status, "~" if c.status == "changed" else ">")
        out.append((f"{mark} {_label(diff, c)}: {', '.join(cell_facts(diff, c))}",
                    STYLES[mark] + " bold"))
        if c.code_changed:
            for line in code_diff_lines(c):
                out.append(("    " + line, STYLES.get(line[:1], "")))
        if outputs and c.outputs_changed:
            out.append(("    outputs:", "bold"))
            old, new = _outputs_text(c.old_outputs), _outputs_text(c.new_outputs)
            for line in difflib.unified_diff(old, new, n=1, lineterm=""):
                if not line.startswith(("---", "+++")):
                    out.append(("    " + line, STYLES.get(line[:1], "")))
    if diff.invalidated:
        names = ", ".join(diff.name(cid) for cid in diff.invalidated)
        out.append((f"caches invalidated: {names}", STYLES["~"]))
    if not changed and not diff.parameters:
        out.append(("no changes", ""))
    # names, parameters and code come from the notebooks: no control character reaches
    # the terminal (an ESC in a name would clear the screen or forge a line)
    return [(printable(text, keep_tabs=True), style) for text, style in out]


def print_diff(diff: NotebookDiff, console: Console, outputs: bool = False,
               title: str | None = None) -> None:
    """Print the diff to a rich console (colours as the console decides)."""
    for text, style in diff_lines(diff, outputs, title):
        console.print(Text(text, style=style), soft_wrap=True)


def text_view(nb: Mapping[str, Any]) -> str:
    """The notebook as text for git's textconv: one header line per cell, then its source.

    Headers carry what a line diff should show (id, component name, parents by name,
    worker), and no cell numbers, so inserting a cell does not change every header after
    it; cells without an id (nbformat < 4.5) get none, so headers only change with content.
    """
    comps = components_of(nb)
    lines = ["# cellpipe notebook"]
    for name, spec in sorted(parameters_of(nb).items()):
        lines.append(f"# parameter {name} = {_params(spec)}")
    for cell in nb.get("cells", []):
        cid = cell.get("id")
        head = f"## {cell.get('cell_type', 'code')}" + (f" [{cid}]" if cid else "")
        info = component_of(cell)
        if info is not None:
            parents = ", ".join(f'"{comps[p].name}"' if p in comps else p for p in info.parents)
            head += f' component "{info.name}" <- [{parents}]'
            if info.worker:
                head += f" @ {info.worker}"
        lines += ["", head]
        lines += source_of(cell).splitlines()
    # git prints this view: control characters from the notebook are shown escaped
    return "\n".join(printable(line, keep_tabs=True) for line in lines) + "\n"
