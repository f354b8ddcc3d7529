"""Running a cell's code as Jupyter does: the body is executed, a trailing expression
is evaluated for display unless the last line ends with ';'. Both executors use this."""

from __future__ import annotations

import ast
from collections.abc import Callable
from types import CodeType
from typing import Any

from cellpipe.cache.values import alloc

Parse = Callable[[str, str], ast.Module]
Compile = Callable[[ast.AST, str, str], CodeType]


def split_last_expression(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    """(body without a trailing expression, that expression) — the displayed value."""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        body = ast.Module(body=tree.body[:-1], type_ignores=[])
        return body, ast.Expression(body=last.value)
    return tree, None


def ends_with_semicolon(code: str) -> bool:
    """IPython's rule: a trailing ';' on the last line hides the expression's value."""
    lines = [ln for ln in code.rstrip().splitlines() if ln.strip()]
    return bool(lines) and lines[-1].split("#")[0].rstrip().endswith(";")


def _parse(source: str, filename: str) -> ast.Module:
    return ast.parse(source, filename)


def run_cell_code(source: str, filename: str, namespace: dict[str, Any], *,
                  parse: Parse = _parse, compiler: Compile = compile) -> Any:
    """Execute source in namespace; return the value of its trailing expression (None
    when there is none, or it is hidden by ';'). parse/compiler: IPython's, in a kernel."""
    tree = parse(source, filename)
    body, last = split_last_expression(tree)
    if ends_with_semicolon(source):
        body, last = tree, None
    # big new arrays are made where keeping them costs no copy (no frame of ours is added
    # to the user's traceback: a try block, not a context manager)
    previous = alloc.switch_on()
    try:
        exec(compiler(body, filename, "exec"), namespace)
        if last is None:
            return None
        return eval(compiler(last, filename, "eval"), namespace)
    finally:
        alloc.switch_back(previous)
