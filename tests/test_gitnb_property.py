"""Property: random edit scripts on both sides of a random notebook merge safely and symmetrically."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import nbformat
from gitnbutil import cell, notebook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellpipe.gitnb.cells import component_of, components_of, dumps_notebook, source_of
from cellpipe.gitnb.files import merge_files
from cellpipe.model import dag

OPS = ("insert", "delete", "move", "edit", "add_edge", "remove_edge", "rename", "worker",
       "uncomponent", "markdown")

op_strategy = st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50),
                        st.booleans())


@st.composite
def base_notebooks(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(0, 7))
    cells = []
    comps: list[str] = []
    for i in range(n):
        code = f"a{i} = 1\nb{i} = 2\nc{i} = 3\n"
        if draw(st.booleans()):
            mask = draw(st.integers(0, 2 ** max(len(comps), 1) - 1))
            ps = [p for k, p in enumerate(comps) if mask >> k & 1]
            cells.append(cell(f"c{i}", code, f"step{i}", ps))
            comps.append(f"c{i}")
        else:
            cells.append(cell(f"c{i}", code))
    return notebook(*cells)


def apply(nb: dict[str, Any], ops: list[tuple[str, int, int, bool]], side: str) -> dict[str, Any]:
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    fresh = 0
    for kind, x, y, flag in ops:
        comps = [c for c in cells if component_of(c)]
        if kind == "insert":
            cid = f"{side}{fresh}"
            fresh += 1
            parents = [comps[x % len(comps)]["id"]] if comps and flag else []
            new = cell(cid, f"{side} new {fresh}\n", f"{cid}-name", parents) if flag or not comps \
                else cell(cid, f"{side} plain {fresh}\n")
            cells.insert(y % (len(cells) + 1), new)
        elif not cells:
            continue
        elif kind == "delete":
            gone = cells.pop(x % len(cells))["id"]
            for c in cells:  # the UI removes edges to a deleted component
                spec = c["metadata"].get("cellpipe")
                if spec and gone in spec["parents"]:
                    spec["parents"].remove(gone)
        elif kind == "move":
            moved = cells.pop(x % len(cells))
            cells.insert(y % (len(cells) + 1), moved)
        elif kind == "edit":
            target = cells[x % len(cells)]
            lines = source_of(target).splitlines(keepends=True) or ["\n"]
            lines[y % len(lines)] = f"{side} edit {int(flag)}\n"
            target["source"] = "".join(lines)
        elif kind == "add_edge" and len(comps) >= 2:
            parent, child = comps[x % len(comps)], comps[y % len(comps)]
            graph = {c["id"]: component_of(c).parents for c in comps}
            spec = child["metadata"]["cellpipe"]
            if parent is not child and parent["id"] not in spec["parents"] and \
                    dag.would_create_cycle(graph, parent["id"], child["id"]) is None:
                spec["parents"] = sorted([*spec["parents"], parent["id"]])
        elif kind == "remove_edge" and comps:
            spec = comps[x % len(comps)]["metadata"]["cellpipe"]
            if spec["parents"]:
                spec["parents"].pop(y % len(spec["parents"]))
        elif kind == "rename" and comps:
            comps[x % len(comps)]["metadata"]["cellpipe"]["name"] = f"{side}-name-{y % 3}"
        elif kind == "worker" and comps:
            comps[x % len(comps)]["metadata"]["cellpipe"]["worker"] = f"{side}-gpu"
        elif kind in ("uncomponent", "markdown") and comps:
            gone = comps[x % len(comps)]
            del gone["metadata"]["cellpipe"]
            if kind == "markdown":
                gone["cell_type"] = "markdown"
                del gone["outputs"], gone["execution_count"]
            for c in cells:
                spec = c["metadata"].get("cellpipe")
                if spec and gone["id"] in spec["parents"]:
                    spec["parents"].remove(gone["id"])
    return nb


def edges(nb: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p, cid) for cid, info in components_of(nb).items() for p in info.parents}


_BLOCK = re.compile(r"^<{7}[^\n]*\n(.*?)^={7}\n(.*?)^>{7}[^\n]*\n", re.M | re.S)


def unordered_markers(text: str) -> str:
    """Source with each conflict block's two sides sorted and labels dropped."""
    return _BLOCK.sub(lambda m: "<<<\n" + "===\n".join(sorted([m[1], m[2]])) + ">>>\n", text)


def view(nb: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on which side is 'ours'."""
    out = {}
    for c in nb["cells"]:
        meta = c["metadata"]
        records = meta.get("cellpipe_merge", {}).get("conflicts", [])
        entry: dict[str, Any] = {
            "source": unordered_markers(source_of(c)),
            "conflicts": sorted(r["kind"] for r in records),
            "component": component_of(c) is not None,
        }
        info = component_of(c)
        if info is not None:
            entry["parents"] = info.parents
        if not records:
            entry["metadata"] = meta
        out[c["id"]] = entry
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base_notebooks(), st.lists(op_strategy, max_size=6), st.lists(op_strategy, max_size=6))
def test_random_edits_merge_validly_losslessly_and_symmetrically(base, ours_ops, theirs_ops):
    ours, theirs = apply(base, ours_ops, "o"), apply(base, theirs_ops, "t")
    texts = [dumps_notebook(nb) for nb in (base, ours, theirs)]
    result = merge_files(*texts, path="nb.ipynb")
    swapped = merge_files(texts[0], texts[2], texts[1], path="nb.ipynb")
    assert result.status in (0, 1) and result.status == swapped.status

    nbformat.validate(nbformat.reads(result.text, as_version=4))
    merged = json.loads(result.text)
    merged_ids = [c["id"] for c in merged["cells"]]
    assert len(merged_ids) == len(set(merged_ids))

    base_ids = {c["id"] for c in base["cells"]}
    for side in (ours, theirs):
        added = [c["id"] for c in side["cells"] if c["id"] not in base_ids]
        assert set(added) <= set(merged_ids), "a cell added on one side was lost"
        assert [cid for cid in merged_ids if cid in added] == added, "insertions reordered"

    merged_comps = components_of(merged)
    for side in (ours, theirs):
        for parent, child in edges(side) - edges(base):
            if parent in merged_comps and child in merged_comps:
                assert parent in merged_comps[child].parents, f"edge {parent}->{child} lost"

    if result.status == 0:
        assert not any(c["metadata"].get("cellpipe_merge") for c in merged["cells"])
        assert dag.find_cycle({k: v.parents for k, v in merged_comps.items()}) is None
    assert view(merged) == view(json.loads(swapped.text))
