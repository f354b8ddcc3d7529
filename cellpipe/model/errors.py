"""Errors of the pipeline model: each names the component and says what to do."""

from __future__ import annotations


class PipelineError(ValueError):
    """Base class: the pipeline as written cannot be used."""


class CycleError(PipelineError):
    """The parent -> child edges form a cycle."""

    def __init__(self, cycle_names: list[str]) -> None:
        self.cycle = cycle_names
        path = " -> ".join([*cycle_names, cycle_names[0]])
        super().__init__(
            f"the pipeline has a cycle: {path}. Remove one of these edges to make it a DAG."
        )


class DanglingParentError(PipelineError):
    """A component names a parent that is not a component of this notebook."""

    def __init__(self, component: str, parent_id: str, what: str | None = None,
                 named_id: str | None = None) -> None:
        self.component = component
        self.parent_id = parent_id
        if named_id is not None:  # the parent was written by name
            super().__init__(
                f"component {component!r} has parent {parent_id!r}: parents are cell ids, not "
                f"names; write {named_id!r} (the cell id of component {parent_id!r}) instead."
            )
        elif what is None:
            super().__init__(
                f"component {component!r} has parent {parent_id!r}, which is not a component "
                "in this notebook (deleted, or not a component any more). Remove the edge or "
                "make that cell a component again."
            )
        else:
            super().__init__(
                f"component {component!r} has parent {parent_id!r}, which is {what}. "
                "Remove the edge, or make that cell a component (only code cells can be)."
            )


class DuplicateNameError(PipelineError):
    """Two components share one name."""

    def __init__(self, name: str, cell_ids: list[str]) -> None:
        self.name = name
        self.cell_ids = cell_ids
        super().__init__(
            f"{len(cell_ids)} components are named {name!r} (cells {', '.join(cell_ids)}). "
            "Rename all but one: names must be unique."
        )


class MetadataError(PipelineError):
    """The cellpipe metadata of a cell or of the notebook is malformed."""


class NotebookFormatError(PipelineError):
    """The file is not a notebook cellpipe can read."""


class UnknownComponentError(PipelineError, KeyError):
    """A name or id that matches no component."""

    def __init__(self, ref: str, known: list[str]) -> None:
        self.ref = ref
        shown = ", ".join(repr(n) for n in known[:10]) or "none"
        super().__init__(f"no component named {ref!r}; components are: {shown}")

    def __str__(self) -> str:
        return str(self.args[0])


class ParameterError(PipelineError):
    """A pipeline parameter's declaration or value is wrong."""
