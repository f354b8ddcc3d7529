"""The `cellpipe` command: one click group; each command group lives in its own module.

A module here adds its commands with `register(main)`; list the commands it adds in COMMANDS
(tests/test_perf_paths.py checks the table). A command's modules are imported when it is
invoked, not at start-up: `cellpipe run` does not load git, sweeps, workers or sharing.
"""

from __future__ import annotations

import importlib
import sys

# nbformat imports jsonschema, whose optional IRI checker (rfc3987_syntax) builds a grammar
# when imported (~2.5 s); nothing in the CLI validates IRIs, so keep it out of this process.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import click

from cellpipe.model.text import printable

# command -> the modules whose register() adds it or its subcommands, in order
COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("run",),
    "plan": ("plan",),
    "convert": ("convert",),
    "cache": ("cache", "share"),  # share adds cache export/import/keygen
    "export": ("share",),
    "import": ("share",),
    "diff": ("git",),
    "git-setup": ("git",),
    "log": ("git",),
    "merge": ("git",),
    "worker": ("workers",),
    "workers": ("workers",),
    "sweep": ("sweep",),
}
COMMAND_MODULES = tuple(dict.fromkeys(m for mods in COMMANDS.values() for m in mods))


class _Main(click.Group):
    """The main group: an error message is printed with its control characters escaped
    (it can hold a name from a shared notebook: an ESC there must not reach the terminal)."""

    _registered: set[str]

    def _load(self, name: str) -> None:
        registered = self.__dict__.setdefault("_registered", set())
        for module in COMMANDS.get(name, ()):
            if module not in registered:
                registered.add(module)
                importlib.import_module(f"{__name__}.{module}").register(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

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

