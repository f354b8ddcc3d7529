"""`cellpipe convert`: a Link notebook's pipeline rewritten as cellpipe metadata, checked.

Reading Link metadata is `link.py`'s; this module writes the converted copy and proves it
reads back as the same pipeline (so it can use the notebook reader without a cycle).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from cellpipe.model.errors import PipelineError
from cellpipe.model.link import LINK_KEY, has_link_metadata
from cellpipe.model.notebook import notebook_from_dict, pipeline_from_notebook, write_pipeline
from cellpipe.model.validate import problems


class ConversionError(PipelineError):
    """`convert` found problems in what it would write; nothing was written."""


@dataclass
class Conversion:
    """What `convert_notebook` did: the converted notebook and a summary."""

    notebook: Any
    components: int
    edges: int
    parameters: int
    converted_cells: int
    notices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.components} components, {self.edges} edges, "
                f"{self.parameters} parameters")


def convert_notebook(nb: Any, source: str = "notebook") -> Conversion:
    """Write a Link notebook's pipeline as cellpipe metadata (a converted copy of nb).

    The result is checked before it is returned: every problem (a dangling parent, a cycle,
    duplicate names, a pipeline that reads back differently) raises ConversionError."""
    nb = copy.deepcopy(nb)
    try:
        pipeline = pipeline_from_notebook(nb)
    except PipelineError as exc:
        raise ConversionError(f"{source}: {exc}") from None
    found = problems(pipeline)
    if found:
        lines = "; ".join(str(p) for p in found)
        raise ConversionError(f"{source}: cannot convert, {len(found)} problem(s): {lines}")
    notices = []
    if not has_link_metadata(nb):
        notices.append(f"{source}: no Link ('canvas') metadata; cellpipe metadata written as is")
    was_valid = _schema_problem(nb) is None
    write_pipeline(nb, pipeline)
    converted = 0
    for cell in nb.cells:  # components and plain cells alike: Link's layout goes
        if cell.metadata.pop(LINK_KEY, None) is not None:
            converted += 1
    nb.metadata.pop(LINK_KEY, None)
    problem = _schema_problem(nb)
    if problem is not None:
        if was_valid:
            raise ConversionError(f"{source}: the converted notebook would not be valid "
                                  f"nbformat ({problem}); nothing was written")
        notices.append(f"{source}: the notebook was not valid nbformat before conversion "
                       f"either ({problem}); converted anyway")
    _check_round_trip(nb, pipeline, source, notebook_from_dict, pipeline_from_notebook)
    return Conversion(nb, len(pipeline.components),
                      sum(len(c.parents) for c in pipeline.components),
                      len(pipeline.parameters), converted, notices)


def _schema_problem(nb: Any) -> str | None:
    """The first nbformat schema violation of nb, in one line, or None."""
    import nbformat

    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return str(exc.message).splitlines()[0]
    return None


def _check_round_trip(nb: Any, pipeline: Any, source: str, read: Any, parse: Any) -> None:
    """The converted notebook must read back as exactly this pipeline."""
    import nbformat

    try:
        again, _ = read(json.loads(nbformat.writes(nb, capture_validation_error={})), source=source)
        back = parse(again)
    except PipelineError as exc:
        raise ConversionError(f"{source}: the converted notebook cannot be read back: {exc}; "
                              "nothing was written") from None
    if back.components != pipeline.components or dict(back.parameters) != dict(pipeline.parameters):
        raise ConversionError(f"{source}: the converted notebook does not read back as the "
                              "same pipeline; nothing was written")
