"""Merkle cache keys (DESIGN 3.3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cellpipe.model.code import (
    code_hash,
    names_used,
    normalized_code,
    own_key_parts,
    parameters_read,
    parse,
    transform,
)

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
    code_part, read = own_key_parts(code, parameters)
    h = hashlib.sha256()
    for part in (KEY_FORMAT_VERSION, code_part, *sorted(parent_keys), _canonical(read)):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()
