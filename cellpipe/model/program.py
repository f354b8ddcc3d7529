"""A pipeline as a standalone Python program (`cellpipe export --format py`), as text.

Each component becomes a function named after it that holds its code as written, with the
names it binds declared global, so it runs as a notebook cell does. The program's runner
(`program_runtime`, copied in) runs them with DESIGN §4's semantics; nothing imports
cellpipe. Pure: a Pipeline in, source text out (or an ExportError naming what cannot go).
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import textwrap
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from cellpipe.model import dag
from cellpipe.model.code import names_used, transform
from cellpipe.model.errors import PipelineError
from cellpipe.model.pipeline import Component, Pipeline
from cellpipe.model.validate import check_run

# magics that only configure a notebook session: a program drops them (with a comment)
SESSION_MAGICS = frozenset({"matplotlib", "config", "load_ext", "reload_ext", "autoreload",
                            "aimport"})


class ExportError(PipelineError):
    """A component whose code a plain Python program cannot hold as it is."""

    def __init__(self, component: str, message: str, line: int | None = None) -> None:
        self.component = component
        where = f" line {line}:" if line else ""
        super().__init__(f"cannot export component {component!r}:{where} {message}")


@dataclass(frozen=True)
class ProgramComponent:
    """A component as a program holds it: its function's name and body, what it mentions."""

    component: Component
    function: str
    body: str  # the code as written (session magics commented out), ready to indent
    bound: tuple[str, ...]  # names its top level binds: the function declares them global
    mentions: tuple[str, ...]  # names its code mentions (what it can reach, with functions)
    returns_last: bool  # its last statement is an expression Jupyter would show


def program_component(component: Component, function: str) -> ProgramComponent:
    """The component's code checked and prepared for a function body (raises ExportError)."""
    code = _without_session_magics(component)
    tree = _parse(component, code)
    _refuse_module_only(component, tree)
    code, tree = _drop_name_annotations(component, code, tree)
    last = tree.body[-1] if tree.body else None
    returns_last = (isinstance(last, ast.Expr) and last.col_offset == 0
                    and not _shown_nothing(last) and not _suppressed(code, last))
    return ProgramComponent(component, function, code, tuple(sorted(top_level_bindings(tree))),
                            tuple(sorted(names_used(code))), returns_last)


def python_program(pipeline: Pipeline, notebook: str = "notebook.ipynb",
                   defaults: Mapping[str, Any] | None = None,
                   program: str = "pipeline.py") -> str:
    """The whole program for pipeline (checked as `cellpipe run` checks it; raises
    PipelineError for a broken pipeline, ExportError for code a program cannot hold)."""
    if not pipeline.components:
        raise PipelineError(f"{notebook} has no components: nothing to export")
    check_run(pipeline, None)
    values = pipeline.parameter_values(defaults)
    for name in set(pipeline.parameters) & {"target", "help"}:
        raise PipelineError(f"parameter {name!r} would be the program's own --{name} option; "
                            "rename the parameter to export the pipeline as a program")
    graph = pipeline.graph()
    order = dag.topological_order(graph)
    # clear of the runner's names and of every name the code uses, so nobody reads
    # `def features(): global features` and wonders which is which
    functions = function_names(pipeline, _runtime_names().union(
        *(names_used(c.code) for c in pipeline.components)))
    parts = [program_component(pipeline.get(cid), functions[cid]) for cid in order]
    sinks = [pipeline.get(cid).name for cid in dag.sinks(graph)]
    source = "\n".join([
        _header(pipeline, notebook, program),
        _runtime_source()[0],
        _banner("the components (each one's code as written in the notebook)"),
        *(_function(part) for part in parts),
        _banner("the pipeline: components in a topological order, parameters, sinks"),
        _tables(pipeline, order, parts, values, sinks),
        _banner("running it: each component sees its ancestors' state, as in `cellpipe run`"),
        _runtime_source()[1],
        'if __name__ == "__main__":\n    sys.exit(main(COMPONENTS, PARAMETERS, SINKS, __doc__))\n',
    ])
    _check_compiles(source, parts)
    return source


def with_ancestors(pipeline: Pipeline, refs: list[str]) -> Pipeline:
    """The chosen components (names or ids) and their ancestors, checked as `cellpipe run
    -t` checks them: what a program or a Kubeflow pipeline of those targets holds."""
    ids = [pipeline.find(ref).id for ref in refs]
    check_run(pipeline, ids)
    graph = pipeline.graph()
    keep = set(ids).union(*(dag.ancestors(graph, cid) for cid in ids))
    return replace(pipeline, components=tuple(c for c in pipeline.components if c.id in keep))


def function_names(pipeline: Pipeline, taken: set[str]) -> dict[str, str]:
    """Component id -> a Python identifier made from its name, unique and clear of taken."""
    used = set(taken) | set(dir(builtins)) | set(keyword.kwlist)
    found: dict[str, str] = {}
    for c in pipeline.components:
        base = re.sub(r"\W+", "_", c.name).strip("_") or "component"
        if base[0].isdigit():
            base = f"component_{base}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_component" if n == 2 else f"{base}_{n}"
        used.add(name)
        found[c.id] = name
    return found


def top_level_bindings(tree: ast.Module) -> set[str]:
    """Names the module scope of tree binds or deletes (not inside functions or classes;
    a walrus in a comprehension binds here, a comprehension's own targets do not)."""
    found: set[str] = set()

    def visit(node: ast.AST, in_comprehension: bool = False) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            outer: list[ast.AST] = [*node.decorator_list]
            if isinstance(node, ast.ClassDef):
                outer += [*node.bases, *node.keywords]
            else:
                outer += [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
            for child in outer:
                visit(child, in_comprehension)
            return
        if isinstance(node, ast.Lambda):
            for child in node.args.defaults:
                visit(child, in_comprehension)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            found.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.add(node.rest)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif (isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))
              and not in_comprehension):
            found.add(node.id)
        comprehension = in_comprehension or isinstance(
            node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
        for child in ast.iter_child_nodes(node):
            visit(child, comprehension)

    for statement in tree.body:
        visit(statement)
    return found


def indent(code: str, prefix: str = "    ") -> str:
    """code with prefix before each non-blank line, except lines inside a string literal
    (indenting those would change the string)."""
    lines = code.splitlines()
    inside: set[int] = set()  # 1-based rows that continue a multi-line string
    starts: list[int] = []
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == fstring_start:
            starts.append(tok.start[0])
        elif tok.type == fstring_end and starts:
            inside.update(range(starts.pop() + 1, tok.end[0] + 1))
        elif tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    return "\n".join(line if not line.strip() or row in inside else prefix + line
                     for row, line in enumerate(lines, 1))


def _without_session_magics(component: Component) -> str:
    """The raw code with session magics as comments; any other magic or shell escape is
    refused (a program cannot run it)."""
    code = component.code
    try:
        ast.parse(code)
        return code
    except SyntaxError:
        pass
    transformed = transform(code)
    try:
        tree = ast.parse(transformed)
    except SyntaxError as exc:
        raise ExportError(component.name, f"it is not valid Python ({exc.msg})",
                          exc.lineno) from None
    raw = code.splitlines()
    lines = list(raw)
    if len(transformed.splitlines()) != len(raw):  # a cell magic (%%...) or prompts
        first = next((ln for ln in raw if ln.strip()), "")
        raise ExportError(component.name, f"{first.strip()!r} is an IPython cell magic or "
                          "special syntax; plain Python cannot run it. Write it as Python, "
                          "or remove it.", 1)
    for node in ast.walk(tree):
        call = _ipython_call(node)
        if call is None:
            continue
        text = raw[node.lineno - 1].strip()
        method = call.func.attr  # type: ignore[attr-defined]
        magic = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) \
            else None
        if method == "run_line_magic" and magic in SESSION_MAGICS:
            continue
        what = ("an IPython shell command" if method in ("system", "getoutput")
                else f"an IPython magic (%{magic})" if magic else "IPython syntax")
        raise ExportError(component.name, f"{text!r} is {what}; plain Python cannot run it. "
                          "Write it as Python (subprocess.run(...) for a command), or remove "
                          "it.", node.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and _ipython_call(node) is not None:
            text = raw[node.lineno - 1]
            margin = text[:len(text) - len(text.lstrip())]
            lines[node.lineno - 1] = (f"{margin}{'pass  ' if margin else ''}# {text.strip()}  "
                                      "(notebook-only magic: dropped by the export)")
    return "\n".join(lines)


def _ipython_call(node: ast.AST) -> ast.Call | None:
    """node when it is get_ipython().METHOD(...), as IPython's input transforms write magics."""
    if isinstance(node, ast.Expr):
        node = node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "get_ipython"):
        return node
    return None


def _parse(component: Component, code: str) -> ast.Module:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ExportError(component.name, f"it is not valid Python ({exc.msg})",
                          exc.lineno) from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "get_ipython":
            raise ExportError(component.name, "it calls get_ipython(), which exists only in "
                              "IPython; a plain Python program has none", node.lineno)
    return tree


def _refuse_module_only(component: Component, tree: ast.Module) -> None:
    """What is valid at a cell's top level but not in a function body, or means another
    thing there: star imports, top-level await (IPython's autoawait), yield and return."""
    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            raise ExportError(component.name, f"'from {node.module} import *' cannot be "
                              "exported; import the names it needs", node.lineno)
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            raise ExportError(component.name, "top-level await (IPython's autoawait) cannot "
                              "be exported; wrap it in asyncio.run(...)", node.lineno)
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Return)):
            raise ExportError(component.name, "'return'/'yield' outside a function",
                              node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)


def _drop_name_annotations(component: Component, code: str,
                           tree: ast.Module) -> tuple[str, ast.Module]:
    """`x: T = v` at the top level as `x = v` (a global cannot be annotated); `x: T` alone
    becomes `pass`. Only one-line annotations are rewritten; others are refused."""
    found = [n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)
             and isinstance(n.target, ast.Name) and n.simple and _top_level(tree, n)]
    if not found:
        return code, tree
    lines = code.splitlines()
    for node in sorted(found, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        ann = node.annotation
        if ann.end_lineno != node.lineno or (node.value is None and node.end_lineno != node.lineno):
            raise ExportError(component.name, "a multi-line annotation of a top-level name "
                              "cannot be exported; drop the annotation", node.lineno)
        line = lines[node.lineno - 1].encode()
        target_end = node.target.end_col_offset or 0
        if node.value is None:
            line = line[:node.col_offset] + b"pass" + line[node.end_col_offset or 0:]
        elif node.value.lineno == node.lineno:
            line = line[:target_end] + b" = " + line[node.value.col_offset:]
        else:
            raise ExportError(component.name, "an annotated top-level name whose value starts "
                              "on another line cannot be exported; drop the annotation",
                              node.lineno)
        lines[node.lineno - 1] = line.decode()
    code = "\n".join(lines)
    return code, ast.parse(code)


def _top_level(tree: ast.Module, target: ast.AST) -> bool:
    """Whether target is in the module scope of tree (not in a function or class body)."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if node is target:
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                 ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _shown_nothing(statement: ast.Expr) -> bool:
    """A print(...) or display(...) call: returning its None would only read oddly."""
    call = statement.value
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id in ("print", "display"))


def _suppressed(code: str, statement: ast.Expr) -> bool:
    """A trailing ';' after the last expression: Jupyter shows nothing."""
    line = code.splitlines()[(statement.end_lineno or statement.lineno) - 1].encode()
    rest = line[statement.end_col_offset or 0:].decode(errors="replace")
    return rest.split("#", 1)[0].strip().startswith(";")


def _function(part: ProgramComponent) -> str:
    c = part.component
    lines = [f"# component {c.name!r} (cell {c.id})"
             + (f", worker {c.worker!r} in the notebook: runs here" if c.worker else ""),
             f"def {part.function}():"]
    if part.bound:
        lines += textwrap.wrap(", ".join(part.bound), width=92, initial_indent="    global ",
                               subsequent_indent="    global ", break_on_hyphens=False)
        lines = [ln.rstrip(",") for ln in lines]
    body = part.body
    if part.returns_last:
        rows = body.splitlines()
        tree = ast.parse(body)
        rows[tree.body[-1].lineno - 1] = "return " + rows[tree.body[-1].lineno - 1]
        body = "\n".join(rows)
    if not ast.parse(body).body:
        body = (body.rstrip() + "\npass").lstrip("\n")
    lines.append(indent(body))
    return "\n".join(lines) + "\n\n"


def _header(pipeline: Pipeline, notebook: str, program: str) -> str:
    params = "".join(f" --{n} VALUE" for n in list(pipeline.parameters)[:2])
    return (
        "#!/usr/bin/env python3\n"
        f'"""The pipeline of {notebook} as a standalone program (exported by cellpipe).\n\n'
        "Each component is a function below, named after it, holding its code as written.\n"
        "The program runs the targets (default: every sink) after their ancestors, in a\n"
        "topological order; a component sees exactly the state its ancestors leave: a\n"
        "sibling's change, in place or not, is never visible. It needs the libraries the\n"
        "components import, not cellpipe. Targets print their output on stdout, the other\n"
        "components on stderr.\n\n"
        f"    python {program} --help\n"
        f"    python {program} --target NAME{params}\n"
        '"""\n'
    )


def _banner(title: str) -> str:
    return f"# ---- {title} " + "-" * max(4, 88 - len(title)) + "\n"


def _tables(pipeline: Pipeline, order: list[str], parts: list[ProgramComponent],
            values: Mapping[str, Any], sinks: list[str]) -> str:
    graph = pipeline.graph()
    lines = ["PARAMETERS = {  # name: (type, default)"]
    lines += [f"    {name!r}: ({p.type!r}, {values[name]!r})," for name, p in
              pipeline.parameters.items()]
    lines += ["}", "", "COMPONENTS = [  # (function, name, ancestors in run order, "
              "names its code mentions)"]
    for part in parts:
        ancestors = dag.ancestors(graph, part.component.id)
        names = [pipeline.get(a).name for a in order if a in ancestors]
        mentions = textwrap.fill(repr(list(part.mentions)), width=88,
                                 subsequent_indent="        ", break_on_hyphens=False)
        lines.append(f"    ({part.function}, {part.component.name!r}, {names!r},\n"
                     f"        {mentions}),")
    lines += ["]", "", f"SINKS = {sinks!r}", ""]
    return "\n".join(lines) + "\n"


def _runtime_source() -> tuple[str, str]:
    """The runner's imports and the rest of its code, without its docstring."""
    text = resources.files("cellpipe.model").joinpath("program_runtime.py").read_text("utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    start, end = imports[0].lineno - 1, imports[-1].end_lineno or 0
    return ("\n".join(lines[start:end]) + "\n\n",
            "\n".join(lines[end:]).lstrip("\n") + "\n\n")


def _runtime_names() -> set[str]:
    """What the runner binds at the program's top level (component functions keep clear)."""
    names = {"main", "PARAMETERS", "COMPONENTS", "SINKS"}
    names |= top_level_bindings(ast.parse("".join(_runtime_source())))
    return names


def _check_compiles(source: str, parts: list[ProgramComponent]) -> None:
    """A component whose code Python refuses in a function body (the program must compile)."""
    try:
        compile(source, "pipeline.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        lines = source.splitlines()
        row = (exc.lineno or 1) - 1
        while row >= 0 and not lines[row].startswith("def "):
            row -= 1
        name = lines[row][4:].split("(")[0] if row >= 0 else "?"
        owner = next((p.component.name for p in parts if p.function == name), "?")
        raise ExportError(owner, f"Python refuses it in a function body: {exc.msg}") from None
