"""Reading a pipeline out of a notebook, and writing it back (DESIGN 3.1)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellpipe.model import jsontext, link
from cellpipe.model.errors import (
    MetadataError,
    NotebookFormatError,
    ParameterError,
    PipelineError,
)
from cellpipe.model.pipeline import (
    PARAMETER_TYPES,
    Component,
    Parameter,
    Pipeline,
    parameter_type,
)

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat (and its JSON-schema validator) is imported only where a NotebookNode is made:
# the kernel reads the live notebook without it, so `%load_ext cellpipe` stays fast.

METADATA_KEY = "cellpipe"
LINK_KEY = link.LINK_KEY
FORMAT_VERSION = 1


def read_notebook(path: str | Path) -> tuple[NotebookNode, list[str]]:
    """Load a notebook file, upgraded to nbformat 4.5 with cell ids; returns (nb, notices).

    Anything that is not a notebook cellpipe can read raises NotebookFormatError with one
    line naming the file and the problem; the file is never changed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotebookFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotebookFormatError(f"{path}: is a directory, not a notebook file") from None
    except OSError as exc:
        raise NotebookFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise NotebookFormatError(f"{path}: the file is empty, not a notebook")
    try:
        raw = jsontext.notebook_json(jsontext.notebook_text(data, str(path)), str(path))
    except NotebookFormatError as exc:
        raise NotebookFormatError(f"{exc}; the file is left as it is") from None
    return notebook_from_dict(raw, source=str(path))


def write_notebook(nb: NotebookNode, path: str | Path) -> None:
    """Write a notebook atomically (temp file, then rename): an interrupted write loses nothing.

    A symlink is written through (the file it points at is replaced, the link stays) and an
    existing file keeps its mode; a new file gets the mode open() would give it (umask)."""
    import os
    import stat
    import tempfile

    import nbformat

    path = Path(os.path.realpath(path))
    text = nbformat.writes(nb)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask, read without changing it (os.umask sets it: a race with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _kind(value: Any) -> str:
    """How a JSON value is called in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(x, str) for x in value))


def _check_cells(cells: Any, source: str, text_key: str = "source") -> None:
    """The parts of cells cellpipe reads have the types nbformat gives them."""
    if not isinstance(cells, list):
        raise NotebookFormatError(f"{source}: 'cells' must be a list, not {_kind(cells)}")
    for i, cell in enumerate(cells):
        where = f"{source}: cell {i + 1}"
        if not isinstance(cell, dict):
            raise NotebookFormatError(f"{where} must be an object, not {_kind(cell)}")
        kind = cell.get("cell_type")
        if not isinstance(kind, str):
            raise NotebookFormatError(f"{where}: 'cell_type' must be a string, not {_kind(kind)}")
        for key in dict.fromkeys(("source", text_key)):
            if key in cell and not _is_text(cell[key]):
                value = cell[key]
                what = _kind(value) if not isinstance(value, list) else "a list holding " + next(
                    _kind(x) for x in value if not isinstance(x, str))
                raise NotebookFormatError(
                    f"{where}: '{key}' must be text (a string or a list of strings), not {what}")
        if "metadata" in cell and not isinstance(cell["metadata"], dict):
            raise NotebookFormatError(
                f"{where}: 'metadata' must be an object, not {_kind(cell['metadata'])}")
        if kind == "code" and "outputs" in cell and not isinstance(cell["outputs"], list):
            raise NotebookFormatError(
                f"{where}: 'outputs' must be a list, not {_kind(cell['outputs'])}")


def _check_structure(raw: dict[str, Any], major: int, source: str) -> None:
    if "metadata" in raw and not isinstance(raw["metadata"], dict):
        raise NotebookFormatError(
            f"{source}: notebook 'metadata' must be an object, not {_kind(raw['metadata'])}")
    if major >= 4:
        _check_cells(raw.get("cells"), source)
        return
    sheets = raw.get("worksheets")
    if not isinstance(sheets, list) or not all(isinstance(w, dict) for w in sheets):
        raise NotebookFormatError(f"{source}: nbformat 3 'worksheets' must be a list of objects")
    for sheet in sheets:
        _check_cells(sheet.get("cells", []), source, text_key="input")


def notebook_from_dict(raw: Any, source: str = "notebook") -> tuple[NotebookNode, list[str]]:
    """A notebook node from parsed JSON, upgraded to 4.5 with cell ids; returns (nb, notices)."""
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise NotebookFormatError(f"{source}: not a Jupyter notebook (no 'cells')")
    notices: list[str] = []
    major = raw.get("nbformat")
    if isinstance(major, bool) or not isinstance(major, int) or major < 3 or major > 4:
        raise NotebookFormatError(
            f"{source}: nbformat {major!r} is not supported; cellpipe reads nbformat 3 and 4"
        )
    _check_structure(raw, major, source)
    minor = raw.get("nbformat_minor", 0)
    import nbformat

    try:
        if major < 4:
            raw = copy.deepcopy(raw)
            for sheet in raw["worksheets"]:  # nbformat's v3 reader needs these keys
                sheet.setdefault("metadata", {})
                for cell in sheet.setdefault("cells", []):
                    cell.setdefault("metadata", {})
                    if cell["cell_type"] == "code":
                        cell.setdefault("outputs", [])
            raw.setdefault("metadata", {})
        nb = nbformat.from_dict(raw)
        if major < 4:
            # files keep multi-line text as lists of lines (as nbformat writes them); the
            # v3 -> v4 upgrade needs it joined, as nbformat's own reader does first
            from nbformat.v3.rwbase import rejoin_lines

            nb = nbformat.convert(rejoin_lines(nb), 4)
        if major < 4 or not isinstance(minor, int) or minor < 5:
            nb.nbformat, nb.nbformat_minor = 4, 5
            notices.append(f"{source}: upgraded from nbformat {major}.{minor} to 4.5 (cell ids)")
    except Exception as exc:  # nbformat raises many kinds on garbage
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotebookFormatError(f"{source}: cannot be read as a notebook: {first}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookFormatError(f"{source}: 'cells' must be a list")
    nb.setdefault("metadata", nbformat.NotebookNode())
    for cell in nb.cells:
        cell.setdefault("metadata", nbformat.NotebookNode())
        cell.setdefault("source", "")
    link.adopt_canvas_ids(nb.cells)
    duplicates = _check_duplicate_ids(nb.cells, source)
    added = ensure_cell_ids(nb)
    if added > duplicates:
        notices.append(f"{source}: gave {added - duplicates} cell(s) a new id (the notebook had "
                       "none; they are new on each read, so save the notebook from JupyterLab "
                       "to keep ids that parents can name)")
    if duplicates:
        notices.append(f"{source}: gave {duplicates} cell(s) a new id (their id was already "
                       "used by an earlier cell)")
    return nb, notices


def _check_duplicate_ids(cells: list[Any], source: str) -> int:
    """How many cells repeat an earlier cell's id. Refused (which cell is meant cannot be
    told) when a repeated id is a component's, or a component's parent."""
    first: dict[str, int] = {}
    parents: set[str] = set()
    for cell in cells:
        meta = cell.get("metadata", {}).get(METADATA_KEY) if isinstance(cell, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("parents"), list):
            parents |= {p for p in meta["parents"] if isinstance(p, str)}
    repeated = 0
    for index, cell in enumerate(cells):
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid:
            continue
        if cid not in first:
            first[cid] = index
            continue
        repeated += 1
        involved = [cells[first[cid]], cell]
        if cid in parents or any(METADATA_KEY in c.get("metadata", {}) for c in involved):
            raise NotebookFormatError(
                f"{source}: cells {first[cid] + 1} and {index + 1} have the same id {cid!r} "
                "(cell ids must be unique, and parents name cells by id): give one of them a "
                "new id, and point the parents that mean it at that id"
            )
    return repeated


def pipeline_from_dict(raw: Any, source: str = "notebook") -> tuple[Pipeline, list[str]]:
    """The pipeline of a notebook given as parsed JSON (the live model a front end sends),
    and notices; nbformat 4 is read as it is (no NotebookNode, no nbformat import)."""
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(
            raw.get("cells"), list) or not all(isinstance(c, dict) for c in raw["cells"]):
        nb, notices = notebook_from_dict(raw, source)
        return pipeline_from_notebook(nb), notices
    _check_structure(raw, 4, source)
    notices = []
    link.adopt_canvas_ids(raw["cells"])
    added = ensure_cell_ids(raw)
    if added:
        notices.append(f"{source}: gave {added} cell(s) a new id (the notebook had none)")
    return pipeline_from_notebook(raw), notices


def read_pipeline(path: str | Path) -> tuple[NotebookNode, Pipeline, list[str]]:
    """A notebook file and its pipeline; every error names the file."""
    nb, notices = read_notebook(path)
    try:
        pipeline = pipeline_from_notebook(nb)
    except PipelineError as exc:
        raise MetadataError(f"{path}: {exc}") from None
    return nb, pipeline, notices


def ensure_cell_ids(nb: Mapping[str, Any]) -> int:
    """Give every cell without a (unique) id a fresh one; return how many were added."""
    seen: set[str] = set()
    added = 0
    for cell in nb["cells"]:
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid or cid in seen:
            cid = uuid.uuid4().hex[:8]
            while cid in seen:
                cid = uuid.uuid4().hex[:8]
            cell["id"] = cid
            added += 1
        seen.add(cid)
    return added


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _cell_label(index: int, cell: Mapping[str, Any]) -> str:
    return f"cell {index + 1} (id {cell.get('id', '?')})"


def _parameters(meta: Any, where: str) -> dict[str, Parameter]:
    if meta is None:
        return {}
    if isinstance(meta, list):  # MakinaRocks Link: [{"name", "type", "value"}]
        items = link.link_parameters(meta, where)
    elif isinstance(meta, dict):
        items = list(meta.items())
    else:
        raise MetadataError(f"{where}: 'parameters' must be an object of name -> {{type, value}}")
    params: dict[str, Parameter] = {}
    for name, spec in items:
        if not isinstance(name, str) or not isinstance(spec, dict) or "value" not in spec:
            raise MetadataError(
                f"{where}: parameter {name!r} must be {{\"type\": ..., \"value\": ...}}"
            )
        type_ = parameter_type(spec.get("type", "json")) or str(spec.get("type")).lower()
        if type_ not in PARAMETER_TYPES:
            raise MetadataError(
                f"{where}: parameter {name!r} has type {type_!r}; use {', '.join(PARAMETER_TYPES)}"
            )
        try:
            params[name] = Parameter(name, type_, spec["value"])
        except ParameterError as exc:
            raise MetadataError(f"{where}: {exc}") from None
    return params


def _component(index: int, cell: Mapping[str, Any], canvas_ids: Mapping[str, str]
               ) -> Component | None:
    meta = cell.get("metadata", {})
    where = _cell_label(index, cell)
    if METADATA_KEY in meta:
        spec = meta[METADATA_KEY]
        if spec is None:
            return None
        if not isinstance(spec, dict):
            raise MetadataError(f"{where}: metadata 'cellpipe' must be an object, not {spec!r}")
        name = spec.get("name")
        parents = spec.get("parents", [])
        worker = spec.get("worker")
        persist = spec.get("persist", True)
    elif link.canvas(cell) is not None:
        found = link.link_component(meta[LINK_KEY], canvas_ids, where)
        if found is None:
            return None
        name, parents = found
        worker, persist = None, True
    else:
        return None
    if cell.get("cell_type") != "code":
        raise MetadataError(f"{where}: only code cells can be components (this one is "
                            f"{cell.get('cell_type')!r}); remove its 'cellpipe' metadata")
    if not isinstance(name, str) or not name.strip():
        raise MetadataError(f"{where}: a component needs a non-empty 'name' string")
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise MetadataError(
            f"{where} ({name!r}): 'parents' must be a list of cell id strings, not {parents!r}"
        )
    if worker is not None and (not isinstance(worker, str) or not worker):
        raise MetadataError(f"{where} ({name!r}): 'worker' must be a worker alias string")
    if not isinstance(persist, bool):
        raise MetadataError(f"{where} ({name!r}): 'persist' must be true or false")
    return Component(
        id=cell["id"],
        name=name.strip(),
        code=_source(cell),
        parents=tuple(sorted(dict.fromkeys(parents))),
        worker=worker,
        persist=persist,
    )


def _describe(cell: Mapping[str, Any]) -> str:
    """What a cell that is not a component is, for 'parent X is ...' messages."""
    kind = cell.get("cell_type")
    if kind == "code":
        return "a code cell that is not a component"
    return f"a {kind} cell" if isinstance(kind, str) else "not a code cell"


def pipeline_from_notebook(nb: Mapping[str, Any]) -> Pipeline:
    """The pipeline of a notebook (cells with ids). Structure is checked by `validate`."""
    meta = nb.get("metadata", {})
    if not isinstance(meta, dict):
        raise MetadataError("notebook 'metadata' must be an object")
    pmeta = meta.get(METADATA_KEY)
    where = "notebook metadata 'cellpipe'"
    persist = True
    if pmeta is None and isinstance(meta.get(LINK_KEY), dict):
        params = _parameters(meta[LINK_KEY].get("parameters"), "notebook metadata 'canvas'")
    elif pmeta is None:
        params = {}
    else:
        if not isinstance(pmeta, dict):
            raise MetadataError(f"{where} must be an object")
        version = pmeta.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise MetadataError(
                f"{where} has version {version!r}; this cellpipe reads version {FORMAT_VERSION}. "
                "Upgrade cellpipe to open this notebook."
            )
        params = _parameters(pmeta.get("parameters"), where)
        persist = pmeta.get("persist", True)
        if not isinstance(persist, bool):
            raise MetadataError(f"{where}: 'persist' must be true or false")
    cells = nb.get("cells", [])
    canvas_ids = link.canvas_to_cell_ids(cells)
    components = []
    others: dict[str, str] = {}
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            raise MetadataError(f"{_cell_label(index, {})}: not a notebook cell object")
        comp = _component(index, cell, canvas_ids)
        if comp is not None:
            components.append(comp)
        elif isinstance(cell.get("id"), str):
            others[cell["id"]] = _describe(cell)
    return Pipeline(tuple(components), params, persist, others)


def write_pipeline(nb: NotebookNode, pipeline: Pipeline) -> NotebookNode:
    """Store pipeline's structure and parameters in nb's metadata (cells matched by id)."""
    by_id = {c.id: c for c in pipeline.components}
    for cell in nb.cells:
        comp = by_id.get(cell.get("id"))
        if comp is None:
            cell.metadata.pop(METADATA_KEY, None)
        else:
            cell.metadata[METADATA_KEY] = comp.metadata()
            cell.metadata.pop(LINK_KEY, None)
    pmeta: dict[str, Any] = {"version": FORMAT_VERSION}
    if pipeline.parameters:
        pmeta["parameters"] = {
            n: {"type": p.type, "value": p.value} for n, p in pipeline.parameters.items()
        }
    if not pipeline.persist:
        pmeta["persist"] = False
    nb.metadata[METADATA_KEY] = pmeta
    nb.metadata.pop(LINK_KEY, None)
    return nb
