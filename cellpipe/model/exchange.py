"""Pipeline JSON (DESIGN 3.2): export a pipeline or a part of it, import one into a notebook.

Pure functions over the model and in-memory notebooks; reading and writing files is the
caller's job. Every document read is checked against the JSON Schema shipped in
`cellpipe/model/schemas/` before anything else looks at it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import nbformat
from nbformat import NotebookNode

from cellpipe.model import dag, jsontext
from cellpipe.model.errors import CycleError, ParameterError, PipelineError
from cellpipe.model.notebook import FORMAT_VERSION, METADATA_KEY, pipeline_from_notebook
from cellpipe.model.pipeline import Component, Parameter, Pipeline
from cellpipe.model.validate import RunCheckError, check_run, problems, validate

FORMAT = "cellpipe.pipeline"
VERSION = 1


class PipelineFormatError(PipelineError):
    """A pipeline JSON file cellpipe cannot import (the message names the field)."""


# --- export ----------------------------------------------------------------------------

def select(pipeline: Pipeline, refs: Iterable[str] | None,
           with_ancestors: bool = False) -> list[str]:
    """Ids of the components refs (names or ids) name, plus their ancestors if asked, in
    notebook order; every component when refs is None."""
    if refs is None:
        return pipeline.ids
    chosen = {pipeline.find(ref).id for ref in refs}
    if with_ancestors:
        graph = pipeline.graph()
        for cid in list(chosen):
            chosen |= dag.ancestors(graph, cid) & set(graph)
    return [cid for cid in pipeline.ids if cid in chosen]


def export_pipeline(pipeline: Pipeline, refs: Iterable[str] | None = None,
                    with_ancestors: bool = False) -> dict[str, Any]:
    """The pipeline JSON document of pipeline (or of the components refs name): edges
    leaving the chosen set are dropped, components stay in notebook order. A pipeline that
    plan and run refuse (a cycle, a dangling or markdown parent, a duplicate name in the
    chosen components or their ancestry) is refused: an edge is never dropped silently."""
    ids = select(pipeline, refs, with_ancestors)
    if refs is None:
        found = problems(pipeline)
        if found:
            raise RunCheckError(found)
    else:
        check_run(pipeline, ids)
    inside = set(ids)
    part = [replace(pipeline.get(cid), parents=tuple(p for p in pipeline.get(cid).parents
                                                     if p in inside)) for cid in ids]
    validate(Pipeline(tuple(part), pipeline.parameters))
    components = []
    for comp in part:
        item: dict[str, Any] = {
            "id": comp.id, "name": comp.name, "code": comp.code,
            "parents": sorted(comp.parents),
        }
        if comp.worker:
            item["worker"] = comp.worker
        components.append(item)
    return {
        "format": FORMAT,
        "version": VERSION,
        "parameters": {n: {"type": p.type, "value": p.value}
                       for n, p in sorted(pipeline.parameters.items())},
        "components": components,
    }


def dumps(document: Mapping[str, Any]) -> str:
    """The file text of a document: keys sorted, two-space indent, newline at the end."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# --- reading and checking ----------------------------------------------------------------

@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of version 1 of the format (shipped in the package)."""
    text = resources.files("cellpipe.model").joinpath("schemas/pipeline-v1.schema.json")
    return json.loads(text.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def field_path(parts: Iterable[Any]) -> str:
    """A JSON location as people write it: components[1].parents[0]."""
    return jsontext.path_text(list(parts))


def _one_line(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loads(text: str, source: str = "pipeline JSON") -> dict[str, Any]:
    """Parse and check pipeline JSON text; raise PipelineFormatError naming the field."""
    try:
        document = jsontext.loads(text, source, strict=True)
    except json.JSONDecodeError as exc:
        raise PipelineFormatError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except jsontext.JSONTextError as exc:
        raise PipelineFormatError(str(exc)) from None
    return check(document, source)


def check(document: Any, source: str = "pipeline JSON") -> dict[str, Any]:
    """document if it is a valid version-1 pipeline JSON; else PipelineFormatError."""
    if isinstance(document, dict) and "cells" in document and (
        "nbformat" in document or "metadata" in document
    ):
        raise PipelineFormatError(
            f"{source} is a Jupyter notebook, not a pipeline JSON; export one with "
            f"`cellpipe export {source} -o pipeline.json`, or open the notebook itself"
        )
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise PipelineFormatError(
            f"{source}: not a cellpipe pipeline JSON (format is {found!r}, expected {FORMAT!r})"
        )
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise PipelineFormatError(
            f"{source}: pipeline JSON version {version} was written by a newer cellpipe; this "
            f"one reads version {VERSION}. Upgrade cellpipe (pip install -U cellpipe)"
        )
    _check_schema(document, source)
    _check_meaning(document, source)
    return document


def _check_schema(document: dict[str, Any], source: str) -> None:
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(schema())
    error = best_match(validator.iter_errors(document))
    if error is not None:
        raise PipelineFormatError(
            f"{source}: {field_path(error.absolute_path)}: {_one_line(error.message)}"
        )


def _check_meaning(document: dict[str, Any], source: str) -> None:
    """What a schema cannot say: unique ids and names, parents inside the file, a DAG."""
    components = document["components"]
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for i, comp in enumerate(components):
        if comp["id"] in seen_ids:
            raise PipelineFormatError(
                f"{source}: components[{i}].id: {comp['id']!r} is also the id of "
                f"components[{seen_ids[comp['id']]}]; ids must be unique"
            )
        seen_ids[comp["id"]] = i
        name = comp["name"].strip()
        if name in seen_names:
            raise PipelineFormatError(
                f"{source}: components[{i}].name: {name!r} is also the name of "
                f"components[{seen_names[name]}]; names must be unique"
            )
        seen_names[name] = i
    for i, comp in enumerate(components):
        for j, parent in enumerate(comp["parents"]):
            if parent not in seen_ids:
                raise PipelineFormatError(
                    f"{source}: components[{i}].parents[{j}]: {parent!r} is not the id of a "
                    "component in this file"
                )
    graph = {c["id"]: c["parents"] for c in components}
    cycle = dag.find_cycle(graph)
    if cycle:
        names = [components[seen_ids[n]]["name"] for n in cycle]
        raise PipelineFormatError(f"{source}: components: {CycleError(names)}")
    for name, spec in document["parameters"].items():
        value, declared = spec["value"], spec["type"]
        try:
            if declared in _JSON_TYPES and (not isinstance(value, _JSON_TYPES[declared])
                                            or (isinstance(value, bool) and declared != "bool")):
                # a file states its values' types: "5" for an int contradicts it (the command
                # line's -p lr=5 is text, and is converted; a file's value is not)
                raise ParameterError(f"parameter {name!r} expects {declared}, and the file "
                                     f"gives {_kind(value)}")
            Parameter(name, declared, value)
        except ParameterError as exc:
            raise PipelineFormatError(f"{source}: parameters.{name}.value: {exc}") from None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _kind(value: Any) -> str:
    """How a JSON value is called in a message."""
    if isinstance(value, bool):
        return f"true/false ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({_one_line(json.dumps(value), 40)})"
    return {list: "a list", dict: "an object", type(None): "null"}.get(type(value), "a value")


def pipeline_from_document(document: Mapping[str, Any]) -> Pipeline:
    """The pipeline a checked document describes."""
    return Pipeline(
        tuple(
            Component(id=c["id"], name=c["name"].strip(), code=c["code"],
                      parents=tuple(sorted(c["parents"])), worker=c.get("worker"))
            for c in document["components"]
        ),
        {n: Parameter(n, s["type"], s["value"]) for n, s in document["parameters"].items()},
    )


# --- import ------------------------------------------------------------------------------

@dataclass
class ImportResult:
    """What importing a pipeline JSON into a notebook did."""

    notebook: NotebookNode
    cells: list[NotebookNode]  # the cells added, in order
    id_map: dict[str, str]  # id in the file -> id in the notebook
    renamed: dict[str, str]  # name in the file -> name used (only those that changed)
    messages: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, Any]:
        """The notebook's `cellpipe` metadata after the import."""
        return dict(self.notebook.metadata[METADATA_KEY])


def new_notebook() -> NotebookNode:
    """An empty nbformat 4.5 notebook with a Python 3 kernelspec."""
    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _fresh_id(taken: set[str]) -> str:
    new = uuid.uuid4().hex[:8]
    while new in taken:
        new = uuid.uuid4().hex[:8]
    return new


def _unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def merge_parameters(current: Mapping[str, Parameter], incoming: Mapping[str, Parameter],
                     overwrite: bool, source: str) -> dict[str, Parameter]:
    """current plus incoming; a name with another type or value is an error unless
    overwrite (then incoming wins)."""
    merged = dict(current)
    for name, param in incoming.items():
        old = merged.get(name)
        if old is not None and old != param and not overwrite:
            raise ParameterError(
                f"parameter {name!r} is {old.type} {old.value!r} in the notebook but "
                f"{param.type} {param.value!r} in {source}; import with --overwrite-params "
                "to take the file's value, or rename one of them"
            )
        merged[name] = param
    return merged


def import_pipeline(document: Mapping[str, Any], into: NotebookNode | None = None, *,
                    overwrite_params: bool = False,
                    source: str = "pipeline JSON") -> ImportResult:
    """Append the document's components to into (or to a new notebook), in the file's order.

    Ids already used by a cell of the notebook get fresh ones (edges follow), names already
    used get a suffix (with a message), parameters are merged. into is changed in place."""
    incoming = pipeline_from_document(document)
    nb = into if into is not None else new_notebook()
    current = pipeline_from_notebook(nb)
    params = merge_parameters(current.parameters, incoming.parameters, overwrite_params, source)
    taken_ids = {c.get("id") for c in nb.cells if isinstance(c.get("id"), str)}
    taken_names = {c.name for c in current.components}
    id_map: dict[str, str] = {}
    renamed: dict[str, str] = {}
    messages: list[str] = []
    for comp in incoming.components:
        new_id = comp.id if comp.id not in taken_ids else _fresh_id(taken_ids | set(id_map))
        taken_ids.add(new_id)
        id_map[comp.id] = new_id
        name = _unique_name(comp.name, taken_names)
        taken_names.add(name)
        if name != comp.name:
            renamed[comp.name] = name
            messages.append(f"component {comp.name!r} imported as {name!r}: the notebook "
                            "already has a component with that name")
    cells = []
    for comp in incoming.components:
        placed = Component(id=id_map[comp.id], name=renamed.get(comp.name, comp.name),
                           code=comp.code, parents=tuple(sorted(id_map[p] for p in comp.parents)),
                           worker=comp.worker)
        cell = nbformat.v4.new_code_cell(source=comp.code)
        cell.id = placed.id
        cell.metadata[METADATA_KEY] = placed.metadata()
        cells.append(cell)
    nb.cells.extend(cells)
    meta = dict(nb.metadata.get(METADATA_KEY) or {})
    meta["version"] = FORMAT_VERSION
    if params:
        meta["parameters"] = {n: {"type": p.type, "value": p.value} for n, p in params.items()}
    nb.metadata[METADATA_KEY] = meta
    moved = sum(1 for old, new in id_map.items() if old != new)
    if moved:
        messages.append(f"{moved} component id(s) were already cell ids of the notebook and "
                        "got new ones (edges kept)")
    return ImportResult(nb, cells, id_map, renamed, messages)
