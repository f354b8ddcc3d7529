"""The pipeline model: components, parameters, DAG algorithms, notebook <-> model."""

from cellpipe.model.dag import (
    ancestors,
    descendants,
    find_cycle,
    topological_order,
)
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
from cellpipe.model.validate import check_edge, problems, validate

__all__ = [
    "Component",
    "CycleError",
    "DanglingParentError",
    "DuplicateNameError",
    "MetadataError",
    "NotebookFormatError",
    "Parameter",
    "ParameterError",
    "Pipeline",
    "PipelineError",
    "UnknownComponentError",
    "ancestors",
    "check_edge",
    "descendants",
    "find_cycle",
    "notebook_from_dict",
    "parse_assignments",
    "pipeline_from_dict",
    "pipeline_from_notebook",
    "problems",
    "read_notebook",
    "write_notebook",
    "read_pipeline",
    "convert_notebook",
    "Conversion",
    "ConversionError",
    "topological_order",
    "validate",
    "write_pipeline",
]
