"""Functions a component defined, re-bound to the namespace of the consumer that loads them
(and labelled with the file name their code was compiled under)."""

from __future__ import annotations

import types
from typing import Any


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    """code (and the code objects nested in it) marked as compiled from filename."""
    consts = tuple(_with_filename(c, filename) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def rebind_function(func: types.FunctionType, namespace: dict[str, Any],
                    source_file: str | None = None) -> types.FunctionType:
    """A copy of func whose globals are namespace (a function defined in a component)."""
    code = func.__code__
    # cloudpickle stores functions as "<dynamic-code>"; give them back their cell's file
    # name so tracebacks show the component's source lines
    if source_file and code.co_filename == "<dynamic-code>":
        code = _with_filename(code, source_file)
    new = types.FunctionType(
        code, namespace, func.__name__, func.__defaults__, func.__closure__
    )
    new.__kwdefaults__ = func.__kwdefaults__
    new.__qualname__ = func.__qualname__
    new.__doc__ = func.__doc__
    new.__dict__.update(func.__dict__)
    new.__annotations__ = dict(getattr(func, "__annotations__", {}) or {})
    new.__module__ = func.__module__
    return new
