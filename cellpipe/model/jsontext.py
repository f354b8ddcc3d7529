"""Reading JSON that someone else wrote, with one line naming the place for what Python's
`json` lets through or turns into a traceback: integers past the interpreter's digit limit
(ValueError), nesting deeper than its stack (RecursionError) and, in strict mode (pipeline
JSON), NaN/Infinity and duplicate keys (JSON allows neither meaningfully; json keeps the
last value silently)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from cellpipe.model.errors import NotebookFormatError, PipelineError

MAX_DEPTH = 100  # far deeper than notebooks nest; far from what overflows Python's stack


class JSONTextError(PipelineError):
    """JSON text cellpipe refuses to read (the message names the file and the place)."""


class _Refused:
    """Put where a refused value was, so its path can be named after parsing."""

    def __init__(self, why: str) -> None:
        self.why = why


class _Duplicated(dict):  # type: ignore[type-arg]
    """An object in which a key appeared twice (the key kept for the message)."""

    duplicate: str = ""


def _digit_limit() -> str:
    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
    return f"more than the {limit} digits Python reads" if limit else "too long"


def loads(text: str | bytes, source: str, *, strict: bool = False) -> Any:
    """Parse text; raise JSONTextError naming source and the field's path for a huge integer
    or too deep nesting and, if strict, for NaN/Infinity, a float overflowing to infinity
    and a duplicate key. A malformed text raises json.JSONDecodeError as json does."""
    if not strict:  # notebooks: json's C parser alone; the hooks only to name a problem
        try:
            value = json.loads(text)
        except RecursionError:
            raise _nested_too_deeply(source) from None
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer past the digit limit: parse again to say where
            return _loads_checked(text, source, strict)
        if not _nesting_within(text, MAX_DEPTH) and _too_deep(value):
            _check(value, source)
        return value
    return _loads_checked(text, source, strict)


def _nested_too_deeply(source: str) -> JSONTextError:
    return JSONTextError(f"{source}: JSON nested too deeply (more than Python can read); "
                         "refused")


def _loads_checked(text: str | bytes, source: str, strict: bool) -> Any:
    """The slow parse: every integer (and, if strict, float, constant and object) through a
    hook that puts a marker where a value is refused, so its path can be named."""
    refused = False

    def parse_int(digits: str) -> Any:
        nonlocal refused
        try:
            return int(digits)
        except ValueError:
            refused = True
            return _Refused(f"an integer of {len(digits.lstrip('-'))} digits ({_digit_limit()})")

    kwargs: dict[str, Any] = {"parse_int": parse_int}
    if strict:
        def parse_float(text: str) -> Any:
            nonlocal refused
            value = float(text)
            if math.isfinite(value):
                return value
            refused = True
            return _Refused(f"a number too large for a float ({text[:20]}...)")

        def parse_constant(name: str) -> Any:
            nonlocal refused
            refused = True
            return _Refused(f"{name}, which is not a JSON number")

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            nonlocal refused
            made = dict(items)
            if len(made) == len(items):
                return made
            seen: set[str] = set()
            dup = next(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            refused = True
            flagged = _Duplicated(made)
            flagged.duplicate = dup
            return flagged

        kwargs.update(parse_float=parse_float, parse_constant=parse_constant,
                      object_pairs_hook=pairs)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise _nested_too_deeply(source) from None
    if refused or _too_deep(value):
        _check(value, source)
    return value


# every byte but the quote and the brackets goes, and braces become brackets: what is left
# of a valid JSON text tells how deep it nests
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")


def _nesting_within(text: str | bytes, limit: int) -> bool:
    """Whether the containers of a *valid* JSON text nest at most limit + 1 levels (the top
    one at depth 0), read from the text with bytes methods (C loops, no Python per value).
    False can also mean "cannot tell" (a UTF-16/32 text): the caller then walks the value."""
    if isinstance(text, str):
        data = text.encode("utf-8", "surrogatepass")
    elif json.detect_encoding(text).startswith("utf-8"):
        data = text
    else:
        return False
    if b'\\"' in data:  # escaped quotes: drop every escape pair first (left to right)
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # quotes and brackets only; an empty string "" goes (removing two adjacent quotes keeps
    # every other character inside or outside a string as it was), then what strings hold
    skeleton = data.translate(_BRACES_AS_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    for _ in range(limit + 1):  # each pass removes the innermost containers, one level
        if not skeleton:
            return True
        skeleton = skeleton.replace(b"[]", b"")
    return not skeleton


def _too_deep(value: Any) -> bool:
    """Whether containers nest more than MAX_DEPTH levels (what parses can still overflow
    the stack of whatever walks it later: nbformat's validator, diff, merge)."""
    stack = [(value, 0)] if type(value) in (dict, list) else []
    while stack:  # plain loops and exact types: a 17 MB notebook in ~0.2 s
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in (node.values() if type(node) is dict else node):
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
    return False


def _check(value: Any, source: str) -> None:
    """Raise for the first refused value (depth-first, document order) or too deep nesting."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:  # only after a problem was found: paths cost more than _too_deep
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise JSONTextError(f"{source}: {path_text(path[:8])}...: nested more than "
                                f"{MAX_DEPTH} levels deep; refused")
        if isinstance(node, _Refused):
            raise JSONTextError(f"{source}: {path_text(path)}: {node.why}; refused")
        if isinstance(node, _Duplicated):
            raise JSONTextError(f"{source}: {path_text((*path, node.duplicate))}: the key "
                                f"{node.duplicate!r} appears twice in one object; refused")
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))


def path_text(parts: tuple[Any, ...] | list[Any]) -> str:
    """A JSON location as people write it: components[1].parents[0]."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def notebook_text(data: str | bytes, source: str,
                  error: type[PipelineError] = NotebookFormatError) -> str:
    """A notebook file's text: UTF-8, as nbformat requires (a byte-order mark is skipped);
    else error, one line naming source and the first byte (or character) that is not."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(f"{source} is not valid UTF-8 (character {exc.start})") from None
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{source} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                    f"{exc.start}): a notebook is UTF-8 JSON") from None


def notebook_json(text: str, source: str,
                  error: type[PipelineError] = NotebookFormatError) -> Any:
    """A notebook file's JSON (model.jsontext's limits); else error, one line naming source
    and the place."""
    try:
        return loads(text, source)
    except json.JSONDecodeError as exc:
        raise error(f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                    f"{exc.msg})") from None
    except JSONTextError as exc:
        raise error(str(exc)) from None
