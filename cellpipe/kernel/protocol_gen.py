"""src/protocol.ts and docs/protocol.md, generated from the definitions in protocol.py.

    python -m cellpipe.kernel.protocol_gen --typescript > src/protocol.ts
    python -m cellpipe.kernel.protocol_gen --markdown   # the generated part of docs/protocol.md

`tests/test_protocol.py` fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Literal, Union, get_args, get_origin

from cellpipe.kernel.protocol import (
    COMM_TARGET,
    LITERALS,
    MESSAGES,
    PARTS,
    REQUESTS,
    RUN_MAGIC,
    field_types,
)


def _ts_name(cls: type) -> str:
    return "I" + cls.__name__


def _ts_type(tp: Any, prefix: str = "I") -> str:
    for name, (alias, _) in LITERALS.items():
        if tp == alias:
            return name
    origin = get_origin(tp)
    if tp is Any:
        return "any"
    if tp is type(None):
        return "null"
    if tp is str:
        return "string"
    if tp in (int, float):
        return "number"
    if tp is bool:
        return "boolean"
    if origin is Literal:
        return " | ".join(f"'{v}'" for v in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_ts_type(a, prefix) for a in get_args(tp))
    if origin is list:
        inner = _ts_type(get_args(tp)[0], prefix)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if origin is dict:
        return f"{{ [key: string]: {_ts_type(get_args(tp)[1], prefix)} }}"
    if isinstance(tp, type) and hasattr(tp, "__required_keys__"):
        return prefix + tp.__name__
    raise TypeError(f"protocol: no TypeScript for {tp!r}")


def _doc(cls: Any) -> str:
    return " ".join((cls.__doc__ or "").split())


def _ts_interface(cls: type) -> list[str]:
    lines = [f"/** {_doc(cls)} */"] if _doc(cls) else []
    lines.append(f"export interface {_ts_name(cls)} {{")
    required = cls.__required_keys__  # type: ignore[attr-defined]
    hints = field_types(cls)
    for key in _field_order(cls):
        optional = "" if key in required else "?"
        lines.append(f"  {key}{optional}: {_ts_type(hints[key])};")
    lines.append("}")
    return lines


def _field_order(cls: type) -> list[str]:
    """Fields as declared: `op` and `request_id` of the base first, then the class's own."""
    order: list[str] = []
    for base in reversed(cls.__mro__):
        for key in getattr(base, "__annotations__", {}):
            if key not in order and key in field_types(cls):
                order.append(key)
    first = [k for k in ("op",) if k in order]
    last = [k for k in ("request_id",) if k in order]
    return first + [k for k in order if k not in first and k not in last] + last


def typescript() -> str:
    out = [
        "/**",
        " * The front end <-> kernel protocol (docs/protocol.md).",
        " *",
        " * GENERATED from cellpipe/kernel/protocol.py, do not edit:",
        " *   python -m cellpipe.kernel.protocol_gen --typescript > src/protocol.ts",
        " */",
        "",
        "/* eslint-disable */",
        "",
        f"export const COMM_TARGET = '{COMM_TARGET}';",
        "",
    ]
    for name, (alias, doc) in LITERALS.items():
        quoted = [f"'{v}'" for v in get_args(alias)]
        out += [f"/** {doc} */", f"export type {name} = {' | '.join(quoted)};",
                f"export const {_const_name(name)}: readonly {name}[] = [{', '.join(quoted)}];",
                ""]
    for cls in PARTS + REQUESTS + MESSAGES:
        out += _ts_interface(cls) + [""]
    out += ["/** Any request the front end sends on the `cellpipe` comm. */",
            "export type Request =\n  | " + "\n  | ".join(_ts_name(c) for c in REQUESTS) + ";", "",
            "/** Any message the kernel sends on the `cellpipe` comm. */",
            "export type KernelMessage =\n  | " + "\n  | ".join(_ts_name(c) for c in MESSAGES) + ";",
            "",
            "/** The magic that carries a run request as the code of an execute request. */",
            f"export const RUN_MAGIC = '{RUN_MAGIC}';",
            "",
            "/** The cell code that carries a run request: execute it in the cell being run. */",
            "export function runCode(request: IRunRequest): string {",
            "  return `${RUN_MAGIC} ${JSON.stringify(request)}`;",
            "}",
            ""]
    return "\n".join(out)


def _const_name(name: str) -> str:
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()
    return snake + ("ES" if snake.endswith("S") else "S")


MARKDOWN_BEGIN = "<!-- BEGIN GENERATED: python -m cellpipe.kernel.protocol_gen --markdown -->"
MARKDOWN_END = "<!-- END GENERATED -->"


def _md_fields(cls: type) -> str:
    hints = field_types(cls)
    required = cls.__required_keys__  # type: ignore[attr-defined]
    parts = []
    for key in _field_order(cls):
        tp = _ts_type(hints[key], prefix="").replace("|", "\\|")
        parts.append(f"`{key}{'' if key in required else '?'}`: {tp}")
    return ", ".join(parts)


def markdown() -> str:
    out = [MARKDOWN_BEGIN, "", "### Value sets", "", "| name | values | meaning |", "|---|---|---|"]
    for name, (alias, doc) in LITERALS.items():
        values = ", ".join(f"`{v}`" for v in get_args(alias))
        out.append(f"| {name} | {values} | {doc} |")
    for title, group in (("Requests (front end -> kernel)", REQUESTS),
                         ("Messages (kernel -> front end)", MESSAGES),
                         ("Parts of messages", PARTS)):
        out += ["", f"### {title}", "", "| type | fields | |", "|---|---|---|"]
        for cls in group:
            out.append(f"| {cls.__name__} | {_md_fields(cls)} | {_doc(cls)} |")
    out += ["", MARKDOWN_END]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--typescript"]:
        sys.stdout.write(typescript())
        return 0
    if args == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    print("usage: python -m cellpipe.kernel.protocol_gen --typescript | --markdown", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
