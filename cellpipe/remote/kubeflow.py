"""The Kubeflow export: a pipeline as KFP DSL (model/kubeflow.py) and the YAML the kfp SDK
compiles from it, with what only this machine knows: the worker aliases' GPUs and the
versions of the libraries the components import. The CLI and the server both call it.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import importlib.util
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.model import Pipeline
from cellpipe.model.code import parse
from cellpipe.model.errors import PipelineError
from cellpipe.model.kubeflow import kfp_program
from cellpipe.remote.errors import RemoteError
from cellpipe.remote.registry import WorkerRegistry

INSTALL_HINT = "pip install 'cellpipe[kfp]'"


class KubeflowExportError(PipelineError):
    """The kfp SDK is missing, or it refuses the generated pipeline."""


@dataclass
class KubeflowExport:
    """The two files of an export, and what the exporter should tell the user."""

    dsl: str  # pipeline.py
    yaml: str  # pipeline.yaml, compiled by the kfp SDK
    notes: list[str] = field(default_factory=list)


def export_kubeflow(pipeline: Pipeline, notebook: str, store: str, image: str | None = None,
                    defaults: Mapping[str, Any] | None = None) -> KubeflowExport:
    """pipeline.py and pipeline.yaml for pipeline (raises PipelineError; nothing written).

    image None: a plain Python image whose steps pip-install cellpipe and the components'
    libraries, pinned to the versions installed here."""
    try:
        from kfp import compiler
    except ImportError:
        raise KubeflowExportError(f"the Kubeflow export needs the kfp SDK: {INSTALL_HINT}") \
            from None
    notes: list[str] = []
    packages = [] if image else requirements(pipeline)
    dsl = kfp_program(pipeline, notebook, store,
                      image or f"python:{sys.version_info.major}.{sys.version_info.minor}",
                      defaults, gpus(pipeline, notes), packages)
    with tempfile.TemporaryDirectory(prefix="cellpipe-kfp-") as tmp:
        source = Path(tmp) / "pipeline.py"
        source.write_text(dsl, encoding="utf-8")
        try:
            compiler.Compiler().compile(_load(source).pipeline, str(Path(tmp) / "pipeline.yaml"))
        except Exception as exc:  # noqa: BLE001 - the SDK's refusal, whatever its type
            raise KubeflowExportError(f"the kfp SDK could not compile the pipeline: {exc}") \
                from None
        yaml = (Path(tmp) / "pipeline.yaml").read_text(encoding="utf-8")
    if store.startswith("file:"):
        notes.append(f"the data store {store} is a local path: only steps on this machine "
                     "(kfp.local) or pods mounting it there can share it; use s3://... or "
                     "gs://... for a cluster")
    return KubeflowExport(dsl, yaml, notes)


def gpus(pipeline: Pipeline, notes: list[str]) -> dict[str, float]:
    """Component id -> num_gpus of its worker alias, where the alias is registered here."""
    found: dict[str, float] = {}
    if not any(c.worker and c.worker != "local" for c in pipeline.components):
        return found
    registry = WorkerRegistry()
    for c in pipeline.components:
        if not c.worker or c.worker == "local":
            continue
        try:
            count = float(registry.get(c.worker, c.name).option("num_gpus", 0))
        except RemoteError:
            notes.append(f"component {c.name!r}: worker {c.worker!r} is not registered here, "
                         "so its step requests no GPU")
            continue
        if count:
            found[c.id] = count
    return found


def requirements(pipeline: Pipeline) -> list[str]:
    """cellpipe and the distributions of the modules the components import, pinned to the
    versions installed here (what a step installs on a plain Python image)."""
    by_module = metadata.packages_distributions()
    found = {f"cellpipe=={metadata.version('cellpipe')}"}
    for c in pipeline.components:
        tree = parse(c.code)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top and top not in sys.stdlib_module_names and top in by_module:
                    dist = by_module[top][0]
                    found.add(f"{dist}=={metadata.version(dist)}")
    return sorted(found)


def _load(path: Path) -> Any:
    """Import the generated DSL file (it only defines components and the pipeline)."""
    spec = importlib.util.spec_from_file_location(f"cellpipe_kfp_{os.getpid()}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
