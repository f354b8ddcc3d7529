"""What every REST endpoint accepts: one strict reader of request bodies and query arguments.

A request is read against its endpoint's `Shape` before a handler looks at it: unknown keys,
wrong JSON types (`"trust": "false"` is not `false`), NUL bytes in paths and hostile JSON
(huge integers, deep nesting) are a 400 that names the field, never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class RequestError(ValueError):
    """A request that cannot be served as asked (400)."""


# JSON kinds a field may have, named as the error message says them
_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "integer": (int,),
}


@dataclass(frozen=True)
class Field:
    """One key of a body: its JSON kinds, and what a path or notebook name must be."""

    kinds: tuple[str, ...]
    required: bool = False
    nullable: bool = False
    path: bool = False  # a path inside the server root: no NUL, not empty
    notebook: bool = False  # a path that must name a notebook (`.ipynb`)
    empty: bool = False  # "" is allowed (and means: the server chooses)
    choices: tuple[str, ...] = ()
    string_list: bool = False  # also a list of strings


@dataclass(frozen=True)
class Shape:
    """The keys an endpoint's body may have; `one_of` lists keys of which at least one is needed."""

    name: str
    fields: Mapping[str, Field]
    one_of: tuple[str, ...] = ()
    extra: frozenset[str] = field(default_factory=frozenset)  # tolerated, never read


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _describe(spec: Field) -> str:
    words = {"string": "a string", "boolean": "true or false", "object": "a JSON object",
             "integer": "a whole number"}
    kinds = [words[k] for k in spec.kinds]
    if spec.string_list:
        kinds.append("a list of strings")
    return " or ".join(kinds)


def check_field(endpoint: str, key: str, value: Any, spec: Field) -> None:
    """Raise RequestError unless value is what spec allows for key."""
    if value is None and spec.nullable:
        return
    allowed = tuple(t for k in spec.kinds for t in _KINDS[k])
    ok = isinstance(value, allowed) and not (
        isinstance(value, bool) and "boolean" not in spec.kinds)
    if not ok and spec.string_list and isinstance(value, list):
        ok = all(isinstance(v, str) for v in value)
    if not ok:
        raise RequestError(f"{endpoint}: '{key}' must be {_describe(spec)}, "
                           f"not {_json_type(value)}")
    strings = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for text in strings:
        if isinstance(text, str) and "\0" in text:
            raise RequestError(f"{endpoint}: '{key}' holds a NUL character")
    if spec.path and isinstance(value, str):
        if not value and spec.empty:
            return
        if not value:
            raise RequestError(f"{endpoint}: '{key}' must not be empty")
        if spec.notebook and not value.endswith(".ipynb"):
            raise RequestError(f"{endpoint}: '{key}' must name a notebook ending in .ipynb, "
                               f"not {value!r}")
    if spec.choices and value not in spec.choices:
        raise RequestError(f"{endpoint}: '{key}' must be one of "
                           f"{', '.join(repr(c) for c in spec.choices)}, not {value!r}")


def check(shape: Shape, body: Any) -> dict[str, Any]:
    """The body, checked against shape: a dict with known keys of the right kinds."""
    if not isinstance(body, dict):
        raise RequestError(f"{shape.name}: the request body must be a JSON object, "
                           f"not {_json_type(body)}")
    unknown = sorted(set(body) - set(shape.fields) - shape.extra)
    if unknown:
        raise RequestError(f"{shape.name}: unknown field{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(repr(k) for k in unknown)}; "
                           f"expected {', '.join(sorted(shape.fields))}")
    for key, spec in shape.fields.items():
        if key in body:
            check_field(shape.name, key, body[key], spec)
        elif spec.required:
            raise RequestError(f"{shape.name}: the request needs '{key}'")
    if shape.one_of and not any(k in body for k in shape.one_of):
        raise RequestError(f"{shape.name}: the request needs one of "
                           f"{', '.join(repr(k) for k in shape.one_of)}")
    return body


def parse(shape: Shape, raw: bytes | None) -> dict[str, Any]:
    """Decode a JSON request body and check it; any decoding problem is one RequestError."""
    try:
        body = json.loads(raw or b"{}")
    except RecursionError:
        raise RequestError(f"{shape.name}: the request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, non-UTF-8 bytes, integers of >4300 digits
        raise RequestError(f"{shape.name}: the request body is not valid JSON: {exc}") from None
    return check(shape, body)


def query(shape: Shape, arguments: Mapping[str, Iterable[bytes]]) -> dict[str, Any]:
    """Query arguments checked against shape: each known key once (string_list keys repeat)."""
    # JupyterLab's ServerConnection appends `&<milliseconds>` (no value) to defeat caches
    arguments = {k: v for k, v in arguments.items()
                 if not (k.isdecimal() and all(not x for x in v))}
    unknown = sorted(set(arguments) - set(shape.fields) - shape.extra)
    if unknown:
        raise RequestError(f"{shape.name}: unknown argument{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(repr(k) for k in unknown)}")
    body: dict[str, Any] = {}
    for key, spec in shape.fields.items():
        values = [v.decode("utf-8", "replace") for v in arguments.get(key, [])]
        if not values:
            if spec.required:
                raise RequestError(f"{shape.name}: the request needs '{key}'")
            continue
        if len(values) > 1 and not spec.string_list:
            raise RequestError(f"{shape.name}: '{key}' is given {len(values)} times")
        body[key] = values if spec.string_list else values[0]
        check_field(shape.name, key, body[key], spec)
    return body


_FLAG = ("", "0", "1", "false", "true")
_AUTH = frozenset({"token", "_xsrf"})  # what jupyter_server itself reads from a query

SHAPES: dict[str, Shape] = {s.name: s for s in [
    Shape("share/pipeline/export", {
        "path": Field(("string",), path=True),
        "notebook": Field(("object",)),
        "components": Field(("string",), nullable=True, string_list=True),
        "with_ancestors": Field(("boolean",)),
        "format": Field(("string",)),  # json (default), py, kfp: docs/production.md
        "store": Field(("string",)),  # kfp: the data store URL
        "image": Field(("string",)),  # kfp: the steps' image
    }, one_of=("path", "notebook")),
    Shape("share/pipeline/import", {
        "text": Field(("string",)),
        "pipeline": Field(("object",)),
        "source": Field(("string",)),
        "notebook": Field(("object",)),
        "into": Field(("string",), path=True, notebook=True),
        "new_path": Field(("string",), nullable=True, path=True, notebook=True, empty=True),
        "overwrite_params": Field(("boolean",)),
    }, one_of=("text", "pipeline")),
    Shape("share/cache/export", {
        "path": Field(("string",), required=True, path=True),
        "components": Field(("string",)),
        "param": Field(("string",), string_list=True),
        "dry_run": Field(("string",), choices=_FLAG),
    }, extra=_AUTH),
    Shape("share/cache/upload", {
        "upload": Field(("string",), required=True),
    }, extra=_AUTH),
    Shape("share/cache/import", {
        "upload": Field(("string",), required=True),
        "path": Field(("string",), nullable=True, path=True, notebook=True),
        "dry_run": Field(("boolean",)),
        "trust": Field(("boolean",)),
    }),
    Shape("git/history", {
        "path": Field(("string",), required=True, path=True),
        "limit": Field(("string",)),
    }, extra=_AUTH),
    Shape("git/diff", {
        "path": Field(("string",), required=True, path=True),
        "rev": Field(("string",)),
        "old": Field(("string",)),
        "new": Field(("string",)),
    }, extra=_AUTH),
    Shape("git/checkout", {
        "path": Field(("string",), required=True, path=True),
        "rev": Field(("string",), required=True),
        "mode": Field(("string",), required=True, choices=("copy", "restore")),
    }),
    Shape("git/resolve", {
        "cell": Field(("object",)),
        "metadata": Field(("object",)),
        "choice": Field(("string",), required=True),
    }, one_of=("cell", "metadata")),
    Shape("pipeline/check-edge", {
        "notebook": Field(("object",), required=True),
        "parent": Field(("string",), required=True),
        "child": Field(("string",), required=True),
    }),
    Shape("pipeline/lineage", {
        "notebook": Field(("object",), required=True),
        "id": Field(("string",), required=True),
    }),
    Shape("pipeline/convert", {
        "notebook": Field(("object",), required=True),
    }),
    Shape("pipeline/infer", {
        "notebook": Field(("object",), required=True),
        "only": Field(("string",)),
    }),
    Shape("pipeline/check", {
        "notebook": Field(("object",), required=True),
    }),
    Shape("workers", {
        "alias": Field(("string",), required=True),
        "queue": Field(("string",), required=True),
        "store": Field(("string",), required=True),
        "options": Field(("object",), nullable=True),
    }),
    Shape("sweeps", {
        "notebook": Field(("object",), required=True),
        "path": Field(("string",), path=True),
        "target": Field(("string",), required=True),
        "params": Field(("object",), required=True),
        "jobs": Field(("integer",)),
        "trials": Field(("integer",), nullable=True),
        "objective": Field(("string",), nullable=True, empty=True),
        "maximize": Field(("boolean",)),
    }),
]}
