"""The pipeline model: components, parameters, DAG algorithms, notebook <-> model.

Names are imported lazily (PEP 562): git starts the merge driver once per file and it needs
two of these modules, not the whole model (link conversion, validation, code analysis).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellpipe.model.dag import ancestors, descendants, find_cycle, topological_order
    from cellpipe.model.errors import (
        CycleError,
        DanglingParentError,
        DuplicateNameError,
        MetadataError,
        NotebookFormatError,
        ParameterError,
        PipelineError,
        UnknownComponentError,
    )
    from cellpipe.model.link_convert import Conversion, ConversionError, convert_notebook
    from cellpipe.model.notebook import (
        notebook_from_dict,
        pipeline_from_dict,
        pipeline_from_notebook,
        read_notebook,
        read_pipeline,
        write_notebook,
        write_pipeline,
    )
    from cellpipe.model.pipeline import Component, Parameter, Pipeline, parse_assignments

# eager: the function `validate` has its submodule's name, and importing a submodule later
# would rebind the package attribute to the module (small: dag, errors, pipeline)
from cellpipe.model.validate import check_edge, problems, validate  # noqa: E402

_EXPORTS = {
    **dict.fromkeys(("ancestors", "descendants", "find_cycle", "topological_order"), "dag"),
    **dict.fromkeys(("CycleError", "DanglingParentError", "DuplicateNameError",
                     "MetadataError", "NotebookFormatError", "ParameterError", "PipelineError",
                     "UnknownComponentError"), "errors"),
    **dict.fromkeys(("Conversion", "ConversionError", "convert_notebook"), "link_convert"),
    **dict.fromkeys(("notebook_from_dict", "pipeline_from_dict", "pipeline_from_notebook",
                     "read_notebook", "read_pipeline", "write_notebook", "write_pipeline"),
                    "notebook"),
    **dict.fromkeys(("Component", "Parameter", "Pipeline", "parse_assignments"), "pipeline"),
}

__all__ = [
    "Component", "Conversion", "ConversionError", "CycleError", "DanglingParentError",
    "DuplicateNameError", "MetadataError", "NotebookFormatError", "Parameter", "ParameterError",
    "Pipeline", "PipelineError", "UnknownComponentError", "ancestors", "check_edge",
    "convert_notebook", "descendants", "find_cycle", "notebook_from_dict", "parse_assignments",
    "pipeline_from_dict", "pipeline_from_notebook", "problems", "read_notebook",
    "read_pipeline", "topological_order", "validate", "write_notebook", "write_pipeline",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:  # a submodule (`from cellpipe.model import dag`) or a typo
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value
