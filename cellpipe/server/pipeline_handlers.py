"""HTTP endpoints that check a pipeline without a kernel; thin over `cellpipe.model`."""

from __future__ import annotations

import json
from typing import Any

import tornado
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from cellpipe import model
from cellpipe.model.notebook import METADATA_KEY
from cellpipe.server.bodies import SHAPES, RequestError, parse


def _pipeline(body: dict[str, Any]) -> model.Pipeline:
    notebook = body.get("notebook")
    if not isinstance(notebook, dict):
        raise model.NotebookFormatError("the request needs a 'notebook' object")
    try:
        nb, _ = model.notebook_from_dict({"nbformat": 4, "nbformat_minor": 5, **notebook})
        return model.pipeline_from_notebook(nb)
    except model.PipelineError:
        raise
    except Exception as exc:  # whatever shape the client sent: a 400 that says so, not a 500
        raise model.NotebookFormatError(
            f"the request's 'notebook' cannot be read as a notebook: {type(exc).__name__}: "
            f"{exc}") from None


class PipelineHandler(APIHandler):
    """Base: check the JSON body, turn request and model errors into a 400 with kind and message."""

    shape = ""  # the endpoint's name in bodies.SHAPES

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @tornado.web.authenticated
    def post(self) -> None:
        try:
            reply = self.answer(parse(SHAPES[self.shape], self.request.body))
        except (RequestError, model.PipelineError) as exc:
            self.set_status(400)
            reply = {"op": "error", "kind": type(exc).__name__, "message": str(exc)}
        self.finish(json.dumps(reply))


class CheckEdgeHandler(PipelineHandler):
    """POST {notebook, parent, child}: may parent -> child be added without a cycle?"""

    shape = "pipeline/check-edge"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        model.check_edge(_pipeline(body), body["parent"], body["child"])
        return {"op": "edge_ok"}


def _notebook(body: dict[str, Any]) -> Any:
    """The request's notebook as a NotebookNode (cells as the front end's model sends them:
    without outputs; cell ids kept, since replies name cells by them)."""
    notebook = body.get("notebook")
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise model.NotebookFormatError("the request needs a 'notebook' object with 'cells'")
    cells = [
        {"metadata": {}, "source": "", **cell,
         **({"outputs": [], "execution_count": None}
            if cell.get("cell_type") == "code" else {})}
        for cell in notebook["cells"] if isinstance(cell, dict)
    ]
    try:
        nb, _ = model.notebook_from_dict(
            {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, **notebook, "cells": cells},
            source="the notebook")
    except model.PipelineError:
        raise
    except Exception as exc:
        raise model.NotebookFormatError(
            f"the request's 'notebook' cannot be read as a notebook: {exc}") from None
    return nb


class InferHandler(PipelineHandler):
    """POST {notebook, only?}: the pipeline `cellpipe convert --infer` would write (Make
    Pipeline from Notebook), or with `only` the inferred parents of that cell (Suggest
    Parents). Replies the metadata to write by cell id, every edge with the names it
    carries, and notes on conservative edges; the front end applies it as one edit."""

    shape = "pipeline/infer"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        from cellpipe.model.infer import apply_inference, infer_notebook

        nb = _notebook(body)
        inference = infer_notebook(nb)
        only = body.get("only")
        if only is not None and only not in inference.names:
            raise model.UnknownComponentError(only, list(inference.names.values()))
        converted = apply_inference(nb, inference, source="the notebook").notebook
        cells = []
        for cell in converted.cells:
            if cell.get("cell_type") != "code" or only not in (None, cell.get("id")):
                continue
            meta = dict(cell.metadata[METADATA_KEY])
            drawn = next(c for c in nb.cells if c.get("id") == cell.get("id")).metadata.get(
                METADATA_KEY)
            if only is not None and isinstance(drawn, dict) and drawn.get("name"):
                meta = {**drawn, "parents": meta["parents"]}  # keep the component's own name
            cells.append({"id": cell.get("id"), "metadata": {METADATA_KEY: meta}})
        edges = [e for e in inference.edges if only in (None, e.child)]
        return {
            "op": "inferred",
            "metadata": {METADATA_KEY: dict(converted.metadata[METADATA_KEY])},
            "cells": cells,
            "edges": [e.as_json() for e in edges],
            "notes": inference.notes,
            "summary": inference.summary(),
        }


class CheckHandler(PipelineHandler):
    """POST {notebook}: components that read a name only a non-ancestor binds (with the
    one-click fix), and the names each existing edge carries (shown on an edge's hover)."""

    shape = "pipeline/check"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        from cellpipe.model.infer import check_pipeline

        check = check_pipeline(_pipeline(body))
        return {
            "op": "checked",
            "warnings": [w.as_json() for w in check.warnings],
            "edges": [{"parent": p, "child": c, "names": list(names)}
                      for (p, c), names in check.edge_names.items()],
        }


class LineageHandler(PipelineHandler):
    """POST {notebook, id}: the component, its ancestors and its descendants, in order
    (what the graph shows when it is focused on that component)."""

    shape = "pipeline/lineage"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        pipeline = _pipeline(body)
        target = pipeline.get(str(body.get("id")))
        graph = pipeline.graph()
        ids = {target.id} | model.ancestors(graph, target.id) | model.descendants(graph, target.id)
        return {"op": "lineage", "id": target.id, "ids": model.topological_order(graph, ids)}


class ConvertHandler(PipelineHandler):
    """POST {notebook}: a MakinaRocks Link notebook's pipeline as cellpipe metadata.

    Replies the metadata to write (the notebook's and each cell's, by cell id); the front
    end applies it as one edit. Nothing is converted when the result would not read back
    as the same pipeline (a 400 with kind ConversionError)."""

    shape = "pipeline/convert"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        from cellpipe.model.link_convert import convert_notebook

        result = convert_notebook(_notebook(body), source="the notebook")
        converted = result.notebook
        return {
            "op": "converted",
            "metadata": dict(converted.metadata),
            "cells": [{"id": c.get("id"), "metadata": dict(c.metadata)} for c in converted.cells],
            "summary": result.summary(),
            "notices": list(result.notices),
        }


def setup_handlers(web_app: Any) -> None:
    """Mount the endpoint under <base_url>/cellpipe/pipeline/."""
    base = url_path_join(web_app.settings["base_url"], "cellpipe", "pipeline")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "check-edge"), CheckEdgeHandler),
            (url_path_join(base, "lineage"), LineageHandler),
            (url_path_join(base, "convert"), ConvertHandler),
            (url_path_join(base, "infer"), InferHandler),
            (url_path_join(base, "check"), CheckHandler),
        ],
    )
