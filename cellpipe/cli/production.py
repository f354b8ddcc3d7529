"""`cellpipe export --format py|kfp`: a pipeline leaves the notebook for production.

py: one standalone program (model/program.py). kfp: a Kubeflow Pipelines DSL file and the
YAML the kfp SDK compiles from it (model/kubeflow.py). Everything is generated and checked
before anything is written, so a refused pipeline leaves no file behind.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import click

from cellpipe.cli.console import err, shown
from cellpipe.cli.notebooks import load_notebook, parse_params
from cellpipe.model import Pipeline, dag
from cellpipe.model.errors import PipelineError
from cellpipe.model.validate import check_run


def export(fmt: str, notebook: str, output: str | None, refs: list[str] | None,
           with_ancestors: bool, params: tuple[str, ...], store: str | None,
           image: str | None) -> None:
    """`cellpipe export --format py|kfp`: refs (names or ids) and their ancestors, or all."""
    del with_ancestors  # a program always holds the ancestors of what it runs
    _, pipeline = load_notebook(notebook)
    defaults = parse_params(params)
    try:
        if refs:
            pipeline = _subset(pipeline, refs)
        if fmt == "py":
            if store is not None or image is not None:
                raise click.UsageError("--store and --image are options of --format kfp")
            _export_program(pipeline, notebook, output, defaults)
        else:
            _export_kfp(pipeline, notebook, output, defaults, store, image)
    except PipelineError as exc:
        raise click.ClickException(_one_line(exc)) from None


def _subset(pipeline: Pipeline, refs: list[str]) -> Pipeline:
    """The chosen components and their ancestors, checked as `cellpipe run -t` checks them."""
    ids = [pipeline.find(ref).id for ref in refs]
    check_run(pipeline, ids)
    graph = pipeline.graph()
    keep = set(ids).union(*(dag.ancestors(graph, cid) for cid in ids))
    return replace(pipeline, components=tuple(c for c in pipeline.components if c.id in keep))


def _export_program(pipeline: Pipeline, notebook: str, output: str | None,
                    defaults: dict[str, str]) -> None:
    from cellpipe.model.program import python_program

    program = Path(output).name if output else "pipeline.py"
    text = python_program(pipeline, Path(notebook).name, defaults, program)
    if output is None:
        sys.stdout.write(text)
        return
    write_text(Path(output), text)
    os.chmod(output, 0o755)
    err.print(f"wrote {shown(output)}: {len(pipeline.components)} components; run it with "
              f"`python {shown(output)} --help`", soft_wrap=True)


def _export_kfp(pipeline: Pipeline, notebook: str, output: str | None,
                defaults: dict[str, str], store: str | None, image: str | None) -> None:
    from cellpipe.model.kubeflow import kfp_program

    if not output:
        raise click.UsageError("--format kfp writes a directory: name it with -o DIR")
    try:
        from kfp import compiler
    except ImportError:
        raise click.ClickException("the Kubeflow export needs the kfp SDK: "
                                   "pip install 'cellpipe[kfp]' (nothing written)") from None
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise click.ClickException(f"{output} is a file; -o names the directory to write")
    if store is None:
        store = (directory.resolve() / "store").as_uri()
    packages = [] if image else _requirements(pipeline)
    text = kfp_program(pipeline, Path(notebook).name, store,
                       image or f"python:{sys.version_info.major}.{sys.version_info.minor}",
                       defaults, _gpus(pipeline), packages)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=f".{directory.name}.") as tmp:
        staged = Path(tmp)
        (staged / "pipeline.py").write_text(text, encoding="utf-8")
        try:
            compiler.Compiler().compile(_load(staged / "pipeline.py").pipeline,
                                        str(staged / "pipeline.yaml"))
        except Exception as exc:  # the SDK refuses it: say so, write nothing
            raise click.ClickException(f"the kfp SDK could not compile the pipeline: {exc} "
                                       "(nothing written)") from None
        directory.mkdir(exist_ok=True)
        for name in ("pipeline.py", "pipeline.yaml"):
            os.replace(staged / name, directory / name)
    err.print(f"wrote {shown(directory / 'pipeline.py')} and "
              f"{shown(directory / 'pipeline.yaml')}: {len(pipeline.components)} steps, "
              f"data store {shown(store)}", soft_wrap=True)
    if store.startswith("file:"):
        err.print(f"[yellow]note:[/] the data store {shown(store)} is a local path: only steps on "
                  "this machine (kfp.local) or pods mounting it there can share it; pass "
                  "--store s3://... or gs://... for a cluster", soft_wrap=True)


def _load(path: Path) -> ModuleType:
    """Import the generated DSL file (it only defines components and the pipeline)."""
    spec = importlib.util.spec_from_file_location(f"cellpipe_kfp_{os.getpid()}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gpus(pipeline: Pipeline) -> dict[str, float]:
    """Component id -> num_gpus of its worker alias, where the alias is registered here."""
    from cellpipe.remote import RemoteError, WorkerRegistry

    found: dict[str, float] = {}
    aliases = {c.worker for c in pipeline.components if c.worker and c.worker != "local"}
    if not aliases:
        return found
    registry = WorkerRegistry()
    for c in pipeline.components:
        if c.worker in aliases:
            try:
                gpus = float(registry.get(c.worker, c.name).option("num_gpus", 0))
            except RemoteError:
                err.print(f"[yellow]note:[/] component {shown(repr(c.name))}: worker "
                          f"{shown(repr(c.worker))} is not "
                          "registered here, so its step requests no GPU", soft_wrap=True)
                continue
            if gpus:
                found[c.id] = gpus
    return found


def _requirements(pipeline: Pipeline) -> list[str]:
    """What a step installs on a plain Python image: cellpipe and the distributions of the
    modules the components import, pinned to the versions installed here."""
    import importlib.metadata as metadata

    from cellpipe.model.code import parse

    by_module = metadata.packages_distributions()
    found = {f"cellpipe=={metadata.version('cellpipe')}"}
    for c in pipeline.components:
        tree = parse(c.code)
        for node in ast.walk(tree) if tree is not None else ():
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top not in by_module:
                    continue
                dist = by_module[top][0]
                found.add(f"{dist}=={metadata.version(dist)}")
    return sorted(found)


def write_text(path: Path, text: str) -> None:
    """Write atomically (a temp file beside it, then a rename)."""
    if path.is_dir():
        raise click.ClickException(f"{path} is a directory; name the file to write")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _one_line(exc: PipelineError) -> str:
    """The first problem (a run check lists every one; export names the first and the count)."""
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        return f"{problems[0]} (and {len(problems) - 1} more problems; nothing written)"
    return f"{exc} (nothing written)"
