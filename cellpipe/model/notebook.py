"""Reading a pipeline out of a notebook, and writing it back (DESIGN 3.1)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellpipe.model.errors import MetadataError, NotebookFormatError, ParameterError
from cellpipe.model.pipeline import PARAMETER_TYPES, Component, Parameter, Pipeline

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat (and its JSON-schema validator) is imported only where a NotebookNode is made:
# the kernel reads the live notebook without it, so `%load_ext cellpipe` stays fast.

METADATA_KEY = "cellpipe"
LINK_KEY = "canvas"
FORMAT_VERSION = 1


def read_notebook(path: str | Path) -> tuple[NotebookNode, list[str]]:
    """Load a notebook file, upgraded to nbformat 4.5 with cell ids; returns (nb, notices)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookFormatError(f"{path}: no such file") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file is left as it is"
        ) from None
    return notebook_from_dict(raw, source=str(path))


def notebook_from_dict(raw: Any, source: str = "notebook") -> tuple[NotebookNode, list[str]]:
    """A notebook node from parsed JSON, upgraded to 4.5 with cell ids; returns (nb, notices)."""
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise NotebookFormatError(f"{source}: not a Jupyter notebook (no 'cells')")
    notices: list[str] = []
    major = raw.get("nbformat")
    if not isinstance(major, int) or major < 3 or major > 4:
        raise NotebookFormatError(
            f"{source}: nbformat {major!r} is not supported; cellpipe reads nbformat 3 and 4"
        )
    minor = raw.get("nbformat_minor", 0)
    import nbformat

    try:
        nb = nbformat.from_dict(raw)
        if major < 4:
            nb = nbformat.convert(nb, 4)
        if major < 4 or not isinstance(minor, int) or minor < 5:
            nb.nbformat, nb.nbformat_minor = 4, 5
            notices.append(f"{source}: upgraded from nbformat {major}.{minor} to 4.5 (cell ids)")
    except Exception as exc:  # nbformat raises many kinds on garbage
        raise NotebookFormatError(f"{source}: cannot be read as a notebook: {exc}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookFormatError(f"{source}: 'cells' must be a list")
    added = ensure_cell_ids(nb)
    if added:
        notices.append(f"{source}: gave {added} cell(s) a new id (the notebook had none)")
    return nb, notices


def pipeline_from_dict(raw: Any, source: str = "notebook") -> tuple[Pipeline, list[str]]:
    """The pipeline of a notebook given as parsed JSON (the live model a front end sends),
    and notices; nbformat 4 is read as it is (no NotebookNode, no nbformat import)."""
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(
            raw.get("cells"), list) or not all(isinstance(c, dict) for c in raw["cells"]):
        nb, notices = notebook_from_dict(raw, source)
        return pipeline_from_notebook(nb), notices
    notices = []
    added = ensure_cell_ids(raw)
    if added:
        notices.append(f"{source}: gave {added} cell(s) a new id (the notebook had none)")
    return pipeline_from_notebook(raw), notices


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
    params: dict[str, Parameter] = {}
    if isinstance(meta, list):  # MakinaRocks Link: [{"name", "type", "value"}]
        items = [(p.get("name"), p) for p in meta if isinstance(p, dict)]
    elif isinstance(meta, dict):
        items = list(meta.items())
    else:
        raise MetadataError(f"{where}: 'parameters' must be an object of name -> {{type, value}}")
    for name, spec in items:
        if not isinstance(name, str) or not isinstance(spec, dict) or "value" not in spec:
            raise MetadataError(
                f"{where}: parameter {name!r} must be {{\"type\": ..., \"value\": ...}}"
            )
        type_ = str(spec.get("type", "json")).lower()
        type_ = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}.get(
            type_, type_
        )
        if type_ not in PARAMETER_TYPES:
            raise MetadataError(
                f"{where}: parameter {name!r} has type {type_!r}; use {', '.join(PARAMETER_TYPES)}"
            )
        try:
            params[name] = Parameter(name, type_, spec["value"])
        except ParameterError as exc:
            raise MetadataError(f"{where}: {exc}") from None
    return params


def _component(index: int, cell: Mapping[str, Any]) -> Component | None:
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
    elif LINK_KEY in meta and isinstance(meta[LINK_KEY], dict):
        spec = meta[LINK_KEY]
        if not spec.get("isComponent", True):
            return None
        name = spec.get("name")
        raw_parents = spec.get("parents", [])
        if not isinstance(raw_parents, list):
            raise MetadataError(f"{where}: Link 'parents' must be a list")
        parents = [p.get("id") if isinstance(p, dict) else p for p in raw_parents]
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


def pipeline_from_notebook(nb: Mapping[str, Any]) -> Pipeline:
    """The pipeline of a notebook (cells with ids). Structure is checked by `validate`."""
    meta = nb.get("metadata", {})
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
    components = []
    for index, cell in enumerate(nb.get("cells", [])):
        comp = _component(index, cell)
        if comp is not None:
            components.append(comp)
    return Pipeline(tuple(components), params, persist)


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
