"""A pipeline as Kubeflow Pipelines v2 DSL source (`cellpipe export --format kfp`), as text.

One lightweight component per cellpipe component; each runs its code through cellpipe's
task runner (`cellpipe.remote.pipeline_step.run_step`, imported by the generated code in
the step's container, not here) against a data store addressed by cache key. A step's
inputs are its ancestors' keys, so KFP orders the steps as the DAG does. Pure: text out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cellpipe.model import dag
from cellpipe.model.errors import PipelineError
from cellpipe.model.pipeline import Pipeline
from cellpipe.model.program import ExportError, function_names, program_component
from cellpipe.model.validate import check_run

# parameter type -> the KFP type of the pipeline argument (json travels as its text)
KFP_TYPES = {"int": "int", "float": "float", "str": "str", "bool": "bool", "json": "str"}
_MODULE_NAMES = {"json", "Path", "NamedTuple", "compiler", "dsl", "STORE", "IMAGE", "PACKAGES",
                 "pipeline", "sinks"}
_STORE_ARG = "data_store"


def kfp_program(pipeline: Pipeline, notebook: str, store: str, image: str,
                defaults: Mapping[str, Any] | None = None,
                gpus: Mapping[str, float] | None = None,
                packages: Sequence[str] = ()) -> str:
    """pipeline.py for KFP: steps named after the components, a `pipeline` function whose
    arguments are the typed parameters; compiling it writes pipeline.yaml beside it.

    gpus: component id -> GPUs its step requests; packages: pip requirements each step
    installs at start (none: the image has cellpipe[kfp] and the libraries)."""
    if not pipeline.components:
        raise PipelineError(f"{notebook} has no components: nothing to export")
    check_run(pipeline, None)
    values = pipeline.parameter_values(defaults)
    graph = pipeline.graph()
    order = dag.topological_order(graph)
    functions = function_names(pipeline, _MODULE_NAMES)
    for cid in order:  # a step runs the code as the program would: the same checks
        program_component(pipeline.get(cid), functions[cid])
    params = list(pipeline.parameters)
    _check_argument_names(pipeline, params, functions)
    lines = [_header(notebook, store, image, packages)]
    for cid in order:
        ancestors = [a for a in order if a in dag.ancestors(graph, cid)]
        lines.append(_step(pipeline, cid, functions, params, ancestors))
    lines.append(_pipeline_function(pipeline, notebook, order, functions, params, values,
                                    gpus or {}))
    lines.append('if __name__ == "__main__":\n'
                 '    compiler.Compiler().compile(pipeline, str(Path(__file__).with_name('
                 '"pipeline.yaml")))\n')
    return "\n".join(lines)


def pipeline_name(notebook: str) -> str:
    """A KFP pipeline name (lowercase letters, digits, dashes) from the notebook's name."""
    stem = notebook.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "pipeline"


def _check_argument_names(pipeline: Pipeline, params: list[str],
                          functions: Mapping[str, str]) -> None:
    keys = {f"{f}_{end}" for f in functions.values() for end in ("key", "code", "step")}
    keys |= {"code", "sources"}
    for name in params:
        if name == _STORE_ARG or name in keys or name in _MODULE_NAMES:
            raise ExportError(pipeline.components[0].name,
                              f"parameter {name!r} clashes with a name of the KFP export; "
                              "rename the parameter")


def _header(notebook: str, store: str, image: str, packages: Sequence[str]) -> str:
    install = ("PACKAGES = []  # the image has cellpipe[kfp] and the components' libraries"
               if not packages else "PACKAGES = [  # installed by each step when it starts\n"
               + "".join(f"    {p!r},\n" for p in packages) + "]")
    return (
        f'"""The pipeline of {notebook} for Kubeflow Pipelines v2 (exported by cellpipe).\n\n'
        "One lightweight component per cellpipe component. Each step runs the component's\n"
        "code with cellpipe's task runner (the one remote workers use): it applies its\n"
        "ancestors' results from the data store STORE, runs, and stores what it changed\n"
        "there under its cache key; a key already in STORE is not run again. So steps,\n"
        "cellpipe workers and notebooks using the same store share results.\n\n"
        "    python pipeline.py     # compiles pipeline.yaml beside this file\n"
        '"""\n\n'
        "import json  # noqa: F401 - json parameters travel as their text\n"
        "from pathlib import Path\n"
        "from typing import NamedTuple\n\n"
        "from kfp import compiler, dsl\n\n"
        f"STORE = {store!r}\n"
        f"IMAGE = {image!r}\n"
        f"{install}\n\n"
    )


def _step(pipeline: Pipeline, cid: str, functions: Mapping[str, str], params: list[str],
          ancestors: list[str]) -> str:
    c = pipeline.get(cid)
    f = functions[cid]
    args = [f"{_STORE_ARG}: str", "code: str", "sources: dict"]
    args += [f"{p}: {KFP_TYPES[pipeline.parameters[p].type]}" for p in params]
    args += [f"{functions[a]}_key: str" for a in ancestors]
    values = ", ".join(
        f"{p!r}: json.loads({p})" if pipeline.parameters[p].type == "json" else f"{p!r}: {p}"
        for p in params)
    parents = ", ".join(f"{functions[p]}_key" for p in sorted(c.parents, key=pipeline.position))
    inputs = ", ".join(f"{functions[a]}_key" for a in ancestors)
    json_import = "    import json\n\n" if any(
        pipeline.parameters[p].type == "json" for p in params) else ""
    return (
        f"# component {c.name!r} (cell {c.id})\n"
        f"{f}_code = {_literal(c.code)}\n\n\n"
        "@dsl.component(base_image=IMAGE, packages_to_install=PACKAGES,\n"
        "               install_kfp_package=bool(PACKAGES))\n"
        f"{_wrapped(f'def {f}(', args, ') -> str:', '')}\n"
        f'    """Runs component {c.name!r} with cellpipe\'s task runner: its cache key."""\n'
        f"{json_import}"
        "    from cellpipe.remote.pipeline_step import run_step\n\n"
        f"    return run_step({_STORE_ARG}, {c.id!r}, {c.name!r}, code,\n"
        f"                    {{{values}}},\n"
        f"                    parents=[{parents}],\n"
        f"                    inputs=[{inputs}], sources=sources)\n\n"
    )


def _pipeline_function(pipeline: Pipeline, notebook: str, order: list[str],
                       functions: Mapping[str, str], params: list[str],
                       values: Mapping[str, Any], gpus: Mapping[str, float]) -> str:
    graph = pipeline.graph()
    signature = [
        f"{p}: {KFP_TYPES[pipeline.parameters[p].type]} = {_default(pipeline, p, values[p])}"
        for p in params]
    sinks = [functions[cid] for cid in dag.sinks(graph)]
    returns = "[" + ", ".join(f"({f!r}, str)" for f in sinks) + "]"
    lines = [f"@dsl.pipeline(name={pipeline_name(notebook)!r},",
             f"              description={'cellpipe pipeline of ' + notebook!r})",
             _wrapped("def pipeline(", signature, f') -> NamedTuple("Sinks", {returns}):', ""),
             '    """Every step; returns the cache keys of the sinks\' results in STORE."""']
    for cid in order:
        f = functions[cid]
        ancestors = [a for a in order if a in dag.ancestors(graph, cid)]
        # the code of its ancestors, so a traceback through their functions shows lines
        sources = ", ".join(f"{pipeline.get(a).name!r}: {functions[a]}_code" for a in ancestors)
        args = [f"{_STORE_ARG}=STORE", f"code={f}_code", f"sources={{{sources}}}",
                *(f"{p}={p}" for p in params),
                *(f"{functions[a]}_key={functions[a]}_step.output" for a in ancestors)]
        lines.append(_wrapped(f"{f}_step = {f}(", args, ")", "    "))
        lines.append(f"    {f}_step.set_display_name({pipeline.get(cid).name!r})")
        # the data store is the cache (by key); KFP's own would skip a step whose store
        # entry is gone
        lines.append(f"    {f}_step.set_caching_options(False)")
        if gpus.get(cid):
            count = max(1, int(-(-gpus[cid] // 1)))
            lines.append(f'    {f}_step.set_accelerator_type("nvidia.com/gpu")'
                         f".set_accelerator_limit({count})  # worker {pipeline.get(cid).worker!r}")
    lines.append(f'    sinks = NamedTuple("Sinks", {returns})')
    lines.append(_wrapped("return sinks(", [f"{f}={f}_step.output" for f in sinks], ")", "    "))
    return "\n".join(lines) + "\n\n"


def _wrapped(head: str, args: Sequence[str], tail: str, margin: str) -> str:
    """head + args + tail on one line when it fits in 92 columns, else one arg a line
    (a def's arguments indented twice, to stand apart from its body)."""
    line = f"{margin}{head}{', '.join(args)}{tail}"
    if len(line) <= 92:
        return line
    inner = margin + ("        " if head.startswith("def ") else "    ")
    return f"{margin}{head}\n" + "".join(f"{inner}{a},\n" for a in args) + f"{margin}{tail}"


def _default(pipeline: Pipeline, name: str, value: Any) -> str:
    if pipeline.parameters[name].type == "json":
        import json

        return repr(json.dumps(value))
    return repr(value)


def _literal(code: str) -> str:
    """code as a readable triple-quoted string where that is exact, else its repr."""
    plain = all(ch.isprintable() or ch in "\n\t" for ch in code)
    if plain and '"""' not in code and "\\" not in code and not code.endswith('"'):
        return '"""\\\n' + code + '"""'
    return repr(code)
