"""Merkle cache keys (DESIGN 3.3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cellpipe.model.code import code_hash, names_used, normalized_code, parse, transform

__all__ = ["cache_key", "code_hash", "names_used", "normalized_code", "parameters_read",
           "parse", "transform"]

KEY_FORMAT_VERSION = "cellpipe-key-1"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def cache_key(
    code: str,
    parent_keys: Iterable[str],
    parameters: Mapping[str, Any],
) -> str:
    """key(c) = sha256(format, normalized code, sorted parent keys, values of params c reads)."""
    used = names_used(code)
    read = {name: parameters[name] for name in sorted(parameters) if name in used}
    h = hashlib.sha256()
    for part in (KEY_FORMAT_VERSION, normalized_code(code), *sorted(parent_keys), _canonical(read)):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def parameters_read(code: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters (name -> value) that code mentions."""
    used = names_used(code)
    return {n: v for n, v in parameters.items() if n in used}
