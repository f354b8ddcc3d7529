"""What identifies a component's code: IPython-transformed source, its AST, the names it uses.

Pure functions shared by the engine (cache keys, DESIGN 3.3) and gitnb (which caches a
change invalidates): comments and formatting never count.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import warnings
from collections.abc import Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def transform(code: str) -> str:
    """The code as Python source after IPython's input transforms (magics, !shell, ...)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is a dependency
        return code
    try:
        return _manager(TransformerManager).transform_cell(code)
    except Exception:  # malformed magic syntax etc.: keep the raw text
        return code


@lru_cache(maxsize=1)
def _manager(cls: Any) -> Any:
    return cls()


@lru_cache(maxsize=4096)
def parse(code: str) -> ast.Module | None:
    """The AST of the transformed code, or None when it does not parse."""
    with warnings.catch_warnings():  # "invalid escape sequence" is the user's, not ours
        warnings.simplefilter("ignore")
        try:  # plain Python is what IPython's transforms leave alone: skip them (slow)
            return ast.parse(code)
        except (SyntaxError, ValueError):
            pass
        try:
            return ast.parse(transform(code))
        except (SyntaxError, ValueError):
            return None


@lru_cache(maxsize=4096)
def normalized_code(code: str) -> str:
    """What identifies code for caching: the AST dump (comments/formatting ignored) or raw text."""
    tree = parse(code)
    if tree is None:
        return "raw:" + code
    return "ast:" + ast.dump(tree, annotate_fields=False, include_attributes=False)


def code_hash(code: str) -> str:
    """sha256 of the normalized code."""
    return hashlib.sha256(normalized_code(code).encode()).hexdigest()


@lru_cache(maxsize=4096)
def names_used(code: str) -> frozenset[str]:
    """Every identifier the code mentions as a name (read, bound or deleted), at any depth."""
    tree = parse(code)
    if tree is None:
        return frozenset()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names - set(dir(builtins)))


def parameters_read(code: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters (name -> value) that code mentions."""
    used = names_used(code)
    return {n: v for n, v in parameters.items() if n in used}


def own_key_parts(code: str, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a component's own code puts into its cache key (DESIGN 3.3): its normalized code
    and the values of the parameters it reads. With its parents' keys, that is the whole key;
    the engine hashes these parts and `cellpipe diff` compares them."""
    return normalized_code(code), parameters_read(code, parameters)
