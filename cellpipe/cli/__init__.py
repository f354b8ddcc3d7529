"""The `cellpipe` command: one click group; each command group lives in its own module.

A module here adds its commands with `register(main)`; list it in COMMAND_MODULES.
"""

from __future__ import annotations

import importlib
import sys

# nbformat imports jsonschema, whose optional IRI checker (rfc3987_syntax) builds a grammar
# when imported (~2.5 s); nothing in the CLI validates IRIs, so keep it out of this process.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import click

from cellpipe.model.text import printable

COMMAND_MODULES = (
    "run",
    "plan",
    "convert",
    "cache",
    "share",
    "git",
    "workers",
    "sweep",
)


class _Main(click.Group):
    """The main group: an error message is printed with its control characters escaped
    (it can hold a name from a shared notebook: an ESC there must not reach the terminal)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = "\n".join(printable(line) for line in exc.message.split("\n"))
            raise


@click.group(cls=_Main)
@click.version_option(package_name="cellpipe")
def main() -> None:
    """cellpipe: notebook cells as the components of a cached pipeline."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(main)
