"""A pipeline inferred from a plain notebook, and the edges a drawn pipeline is missing.

Every code cell becomes a component. Its parents are the cells that last bound or changed
what it reads (model/analysis.py), plus conservative edges for hidden state: so that
running any component (its ancestors in notebook order, DESIGN 4) gives the outputs the
notebook gives top to bottom. Pure functions of the cells' sources.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cellpipe.model import dag
from cellpipe.model.analysis import (
    BUILTIN_NAMES,
    FILES,
    RNG,
    RNG_SEED,
    SETTINGS,
    CellAnalysis,
    FunctionUse,
    analyse,
    module_names,
)
from cellpipe.model.code import parse


@dataclass(frozen=True)
class Cell:
    """What inference needs of a notebook cell."""

    id: str
    kind: str  # "code", "markdown", "raw"
    source: str


@dataclass(frozen=True)
class Edge:
    """An inferred edge and what it carries."""

    parent: str
    child: str
    names: tuple[str, ...]
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"parent": self.parent, "child": self.child, "names": list(self.names),
                "reason": self.reason}


@dataclass
class Inference:
    """The inferred pipeline: names and parents per code cell, edges with reasons, notes."""

    names: dict[str, str]
    parents: dict[str, tuple[str, ...]]
    edges: list[Edge]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.names)} components, {len(self.edges)} edges"


@dataclass
class _Use:
    """A cell's effective reads and changes, call-time behaviour of the functions it calls
    included."""

    reads: set[str]
    binds: set[str]
    mutates: set[str]
    state_reads: set[str]
    state_writes: set[str]
    reads_all: bool
    binds_unknown: bool
    seeds: bool


def effective_use(a: CellAnalysis, functions: Mapping[str, FunctionUse],
                  carries: Mapping[str, frozenset[str]]) -> _Use:
    """What running a cell reads and changes: its own code plus the bodies of the notebook
    functions it may call (`functions`/`carries`: as bound before this cell)."""
    use = _Use(set(a.reads), set(a.binds), set(a.mutates), set(a.state_reads),
               set(a.state_writes), a.reads_all, a.binds_unknown, a.seeds_rng)
    local = dict(a.functions)
    queue = list(a.used)
    seen: set[str] = set()
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        fu = local.get(name) if name in local else functions.get(name)
        for carried in carries.get(name, ()):
            queue.append(carried)
        if fu is None:
            continue
        for n in fu.reads:
            if n not in a.binds or name not in local:
                use.reads.add(n)
            queue.append(n)
        use.binds |= fu.binds
        use.mutates |= fu.mutates
        use.reads |= fu.mutates
        use.state_reads |= fu.state_reads - {"*"}
        use.state_writes |= fu.state_writes - {RNG_SEED}
        use.seeds |= RNG_SEED in fu.state_writes
        use.reads_all |= "*" in fu.state_reads
        if fu.mutates_args:
            for called, args in a.call_args:
                if called == name:
                    use.mutates |= args
                    use.reads |= args
    return use


_HISTORY = re.compile(r"^(_+|_i*\d+|Out|In|_oh|_ih|_i{1,3})$")


def infer(cells: Sequence[Cell]) -> Inference:  # noqa: C901 - one pass, one rule per kind
    """Every code cell as a component, with the parents the notebook's order implies."""
    code_cells = [c for c in cells if c.kind == "code"]
    modules = module_names(c.source for c in code_cells)
    last: dict[str, str] = {}  # name or state -> the cell that last bound or changed it
    functions: dict[str, FunctionUse] = {}
    carries: dict[str, frozenset[str]] = {}
    groups: dict[str, frozenset[str]] = {}  # name -> names that may share its object
    unknown_binders: list[str] = []  # cells that may bind any name
    open_cells: list[str] = []  # cells no later cell depends on yet
    file_writers: dict[str, str] = {}
    seeded = False
    estimators: dict[str, bool] = {}  # name -> fitting it is deterministic
    iterators: set[str] = set()  # names bound to iterators (generators, iter(), open())
    figures: set[str] = set()  # names bound to matplotlib figures and axes
    parents: dict[str, dict[str, list[str]]] = {}  # child -> parent -> names
    reasons: dict[tuple[str, str], list[str]] = {}
    notes: list[str] = []
    names = readable_names(cells, modules)
    previous: str | None = None

    for cell in code_cells:
        a = analyse(cell.source, modules)
        use = effective_use(a, functions, carries)
        # an iterator made in another cell is consumed by whoever reads it (next(it),
        # `for x in it`, list(it)): reading it changes it
        use.mutates |= (a.used | use.reads) & iterators
        use.mutates |= a.plotted & figures  # ax.plot(...) draws on axes made elsewhere
        mine: dict[str, list[str]] = {}

        def edge(parent: str | None, label: str, why: str, cid: str = cell.id,
                 into: dict[str, list[str]] = mine) -> None:
            if parent is None or parent == cid:
                return
            into.setdefault(parent, [])
            if label and label not in into[parent]:
                into[parent].append(label)
            reasons.setdefault((parent, cid), [])
            if why not in reasons[(parent, cid)]:
                reasons[(parent, cid)].append(why)

        for group in a.aliases:  # `for d in [train, test]: d["x"] = 1` changes both
            merged = set(group)
            for n in group:
                merged |= groups.get(n, frozenset())
            for n in merged:
                groups[n] = frozenset(merged - {n})
        mutated = set(use.mutates)
        for n in list(mutated):
            mutated |= groups.get(n, frozenset())
        reads = use.reads | mutated | a.maybe_binds
        for n in sorted(reads):
            if _HISTORY.match(n):
                if n in ("_", "__", "___"):
                    edge(previous, n, f"reads {n}, the previous cell's result")
                    notes.append(f"{names[cell.id]!r} reads {n}, IPython's last result, which "
                                 "components do not pass on: bind that result to a name")
                else:
                    use.reads_all = True
                continue
            if n in BUILTIN_NAMES and n not in last:
                continue
            writer = last.get(n)
            if writer is not None:
                verb = "changes" if n in mutated and n not in use.reads else "reads"
                edge(writer, n, f"{verb} {n}")
            after = [u for u in unknown_binders if writer is None or _later(u, writer, code_cells)]
            for u in after:
                edge(u, n, f"reads {n}, which the star import/exec there may bind")
            if writer is None and not after and n not in use.binds:
                if previous is not None and n not in a.binds:
                    edge(previous, n, f"reads {n}, which no cell binds (kept in order)")
                    notes.append(f"{names[cell.id]!r} reads {n}, which no cell before it binds:"
                                 f" it follows {names[previous]!r}")
        # a star import (or exec) may shadow a builtin: `from numpy import *` then sum(...)
        for n in sorted((a.used & BUILTIN_NAMES) - set(last) - a.binds):
            for u in unknown_binders:
                edge(u, n, f"reads {n}, which the star import/exec there may rebind")
        # hidden state
        if SETTINGS in last:
            edge(last[SETTINGS], "", "runs after a process-wide setting changed there")
        for res in use.state_reads | use.state_writes:
            if res == RNG:
                continue
            if res.startswith("file:"):
                wanted = list(file_writers) if res == FILES else [res, FILES]
                for r in wanted:
                    if r in file_writers and res in use.state_reads:
                        edge(file_writers[r], "", f"reads a file written there ({r[5:]})")
        seeded |= use.seeds
        random_fit = any(not estimators.get(b, False) for b in a.fits)
        if seeded and (RNG in use.state_reads or RNG in use.state_writes or use.seeds
                       or random_fit):
            if RNG in last:
                edge(last[RNG], "", "uses the global random generator after it")
            last[RNG] = cell.id
        if use.reads_all:
            for c in open_cells:
                edge(c, "", "may read any name (exec, eval, globals(), %who, %run ...)")
            notes.append(f"{names[cell.id]!r} may read any name: all cells before it are "
                         "its ancestors")
        for text in a.notes:
            notes.append(f"{names[cell.id]!r}: {text}")
        # what this cell leaves for the next ones
        for res in use.state_writes:
            if res.startswith("file:"):
                file_writers[res] = cell.id
            elif res == SETTINGS:
                last[SETTINGS] = cell.id
        for n in use.binds:
            last[n] = cell.id
            functions.pop(n, None)
            carries.pop(n, None)
            if n in groups and not any(n in g for g in a.aliases):
                for m in groups.pop(n):
                    if m in groups:
                        groups[m] = groups[m] - {n}
        for n in mutated:
            last[n] = cell.id
        for n in use.binds:
            estimators.pop(n, None)
            iterators.discard(n)
            figures.discard(n)
        figures.update(a.figures)
        estimators.update(a.estimators)
        iterators.update(a.iterators)
        for n, callee in a.made_by:
            fu = functions.get(callee) or dict(a.functions).get(callee)
            if fu is not None and fu.generator:
                iterators.add(n)
        for n, fu in a.functions:
            functions[n] = fu
        for n, carried in a.carries:
            carries[n] = carried
        if use.binds_unknown:
            unknown_binders.append(cell.id)
        for p in mine:
            if p in open_cells:
                open_cells.remove(p)
        open_cells.append(cell.id)
        parents[cell.id] = mine
        previous = cell.id

    edges = [Edge(p, child, tuple(sorted(ns)), "; ".join(reasons[(p, child)]))
             for child, ps in parents.items() for p, ns in ps.items()]
    return Inference(names, {c: tuple(sorted(ps)) for c, ps in parents.items()}, edges,
                     list(dict.fromkeys(notes)))


def _later(a: str, b: str, cells: Sequence[Cell]) -> bool:
    order = {c.id: i for i, c in enumerate(cells)}
    return order[a] > order[b]


# --- names ---------------------------------------------------------------------------------
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_MAX_NAME = 48


def readable_names(cells: Sequence[Cell],
                   modules: tuple[tuple[str, str], ...] | None = None) -> dict[str, str]:
    """A unique, readable name for every code cell: its leading comment, the markdown
    heading just above it, the names it binds, or its first line of code."""
    names: dict[str, str] = {}
    if modules is None:
        modules = module_names(c.source for c in cells if c.kind == "code")
    taken: dict[str, int] = {}
    heading: str | None = None
    for cell in cells:
        if cell.kind == "markdown":
            found = _HEADING.findall(cell.source)
            if found:
                heading = _clean(found[0])
            continue
        if cell.kind != "code":
            continue
        name = _leading_comment(cell.source) or heading or _from_code(cell.source, modules)
        heading = None
        name = _shorten(name) or "empty cell"
        count = taken.get(name.lower(), 0) + 1
        taken[name.lower()] = count
        if count > 1:
            name = f"{name} ({count})"
            while name.lower() in taken:
                count += 1
                name = f"{name.rsplit(' (', 1)[0]} ({count})"
            taken[name.lower()] = 1
        names[cell.id] = name
    return names


def _clean(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links, images
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(?<!\w)_{1,2}(\S(?:.*?\S)?)_{1,2}(?!\w)", r"\1", text)  # _emphasis_
    return re.sub(r"[*`]+", "", text).strip(" .:")


def _leading_comment(source: str) -> str | None:
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#") or stripped.startswith("#!"):
            return None
        text = stripped.lstrip("#").strip()
        if not text or re.match(r"^(in\s*\[|-\*-|coding[:=]|noqa|type:|%)", text, re.I):
            continue
        try:  # commented-out code is no name
            compiled = ast.parse(text)
            if compiled.body and not (len(compiled.body) == 1 and isinstance(
                    compiled.body[0], ast.Expr) and isinstance(compiled.body[0].value,
                                                               ast.Name)):
                continue
        except SyntaxError:
            pass
        return text.strip(" .:")
    return None


def _from_code(source: str, modules: tuple[tuple[str, str], ...]) -> str:
    a = analyse(source, modules)
    tree = parse(source)
    text = source  # names appear in the raw text too (magics included)
    imported = {n for n, _ in modules}

    def first_seen(name: str) -> tuple[int, str]:
        found = re.search(rf"\b{re.escape(name)}\b", text)
        return (found.start() if found else len(text), name)

    bound = sorted((n for n in a.binds if n not in imported and n not in a.maybe_binds),
                   key=first_seen)
    bound += sorted(a.binds & a.maybe_binds - imported, key=first_seen)
    imports = tree is not None and all(isinstance(s, (ast.Import, ast.ImportFrom))
                                       for s in tree.body) and tree.body
    if imports:
        return "imports"
    if bound:
        return ", ".join(bound[:4]) + (", ..." if len(bound) > 4 else "")
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    return ""


def _shorten(name: str) -> str:
    name = " ".join(name.split())
    if len(name) > _MAX_NAME:
        name = name[:_MAX_NAME - 1].rstrip() + "…"
    return name


# --- checking drawn edges ------------------------------------------------------------------
@dataclass(frozen=True)
class EdgeWarning:
    """A component reads a name that a non-ancestor binds and no ancestor does."""

    component: str
    name: str
    reads: str
    bound_by: tuple[str, ...]
    bound_by_names: tuple[str, ...]

    @property
    def message(self) -> str:
        who = ", ".join(repr(n) for n in self.bound_by_names)
        which = "which is not an ancestor" if len(self.bound_by) == 1 else (
            "none of which is an ancestor")
        return (f"{self.name!r} reads {self.reads}, bound by {who}, {which} of {self.name!r} "
                f"(add it as a parent?)")

    def as_json(self) -> dict[str, object]:
        return {"component": self.component, "name": self.name, "reads": self.reads,
                "bound_by": list(self.bound_by), "message": self.message,
                "fix": {"child": self.component, "add_parents": [self.bound_by[-1]]}}


@dataclass
class EdgeCheck:
    """What `check_edges` found: warnings, and the names each existing edge carries."""

    warnings: list[EdgeWarning]
    edge_names: dict[tuple[str, str], tuple[str, ...]]


def check_edges(components: Sequence[tuple[str, str, str, Sequence[str]]],
                parameters: Iterable[str] = ()) -> EdgeCheck:
    """Check drawn edges: components are (id, name, code, parents) in notebook order."""
    params = set(parameters)
    codes = [c[2] for c in components]
    modules = module_names(codes)
    analyses = {cid: analyse(code, modules) for cid, _, code, _ in components}
    functions: dict[str, FunctionUse] = {}
    carries: dict[str, frozenset[str]] = {}
    binders: dict[str, list[str]] = {}
    changers: dict[str, set[str]] = {}
    for cid, _, _, _ in components:
        a = analyses[cid]
        for n, fu in a.functions:
            functions[n] = fu
        for n, c in a.carries:
            carries[n] = c
    uses = {cid: effective_use(analyses[cid], functions, carries) for cid, *_ in components}
    for cid, *_ in components:
        for n in uses[cid].binds:
            binders.setdefault(n, []).append(cid)
        for n in uses[cid].binds | uses[cid].mutates:
            changers.setdefault(n, set()).add(cid)
    graph = {cid: tuple(ps) for cid, _, _, ps in components}
    label = {cid: name for cid, name, _, _ in components}
    order = {cid: i for i, (cid, *_) in enumerate(components)}
    warnings = []
    edge_names: dict[tuple[str, str], tuple[str, ...]] = {}
    for cid, name, _, ps in components:
        use = uses[cid]
        ancestors: set[str] | None = None  # walked only for a read no parent binds
        for p in ps:
            edge_names[(p, cid)] = tuple(sorted(
                n for n in use.reads | use.mutates if p in changers.get(n, ())))
        for n in sorted(use.reads - params):
            if n in BUILTIN_NAMES or _HISTORY.match(n):
                continue
            others = [b for b in binders.get(n, []) if b != cid]
            if not others or any(b in ps for b in others):
                continue
            if ancestors is None:
                ancestors = dag.ancestors(graph, cid)
            if any(b in ancestors for b in others):
                continue
            before = [b for b in others if order[b] < order[cid]] or others
            warnings.append(EdgeWarning(cid, name, n, tuple(before),
                                        tuple(label[b] for b in before)))
    return EdgeCheck(warnings, edge_names)


# --- notebooks -----------------------------------------------------------------------------
def notebook_cells(nb: Mapping[str, object]) -> list[Cell]:
    """The cells of a notebook (with ids) as inference reads them."""
    cells = []
    for cell in nb.get("cells", []):  # type: ignore[union-attr]
        src = cell.get("source", "")
        cells.append(Cell(str(cell.get("id")), str(cell.get("cell_type")),
                          "".join(src) if isinstance(src, list) else str(src)))
    return cells


def infer_notebook(nb: Mapping[str, object]) -> Inference:
    """The pipeline inferred from a notebook's cells (ids required)."""
    return infer(notebook_cells(nb))


def check_pipeline(pipeline: object) -> EdgeCheck:
    """`check_edges` of a Pipeline (model.pipeline.Pipeline)."""
    comps = pipeline.components  # type: ignore[attr-defined]
    return check_edges([(c.id, c.name, c.code, c.parents) for c in comps],
                       pipeline.parameters)  # type: ignore[attr-defined]


def apply_inference(nb: object, inference: Inference, source: str = "notebook") -> object:
    """A converted copy of nb with the inferred pipeline as cellpipe metadata (a Link
    `Conversion`, so the CLI reports it the same way); the notebook's parameters are kept."""
    import copy

    from cellpipe.model.link_convert import Conversion, ConversionError
    from cellpipe.model.notebook import (
        LINK_KEY,
        METADATA_KEY,
        pipeline_from_notebook,
        write_pipeline,
    )
    from cellpipe.model.pipeline import Component, Pipeline
    from cellpipe.model.validate import problems

    nb = copy.deepcopy(nb)
    try:
        params = pipeline_from_notebook(nb).parameters  # type: ignore[arg-type]
    except Exception:  # drawn metadata that does not read: replaced anyway
        params = {}
    components = []
    for cell in nb.cells:  # type: ignore[attr-defined]
        if cell.get("cell_type") != "code":
            cell.metadata.pop(METADATA_KEY, None)
            continue
        src = cell.get("source", "")
        components.append(Component(cell["id"], inference.names[cell["id"]],
                                    "".join(src) if isinstance(src, list) else src,
                                    inference.parents[cell["id"]]))
    pipeline = Pipeline(tuple(components), params)
    found = problems(pipeline)
    if found:
        raise ConversionError(f"{source}: the inferred pipeline has problems: "
                              + "; ".join(str(p) for p in found))
    converted = sum(1 for c in nb.cells if c.metadata.pop(LINK_KEY, None) is not None)
    write_pipeline(nb, pipeline)  # type: ignore[arg-type]
    return Conversion(nb, len(components), len(inference.edges), len(params), converted, [])
