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


@click.group()
@click.version_option(package_name="cellpipe")
def main() -> None:
    """cellpipe: notebook cells as the components of a cached pipeline."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(main)
