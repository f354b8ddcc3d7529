"""`%cellpipe run|plan|status`: the pipeline for people who type; `%cellpipe_request`: the
run request of the kernel protocol (kernel/protocol.py), as front ends send it."""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand

from cellpipe.engine import ComponentError, RunInterrupted
from cellpipe.engine.errors import one_line
from cellpipe.kernel import protocol
from cellpipe.kernel.session import KernelSession
from cellpipe.model import parse_assignments
from cellpipe.model.errors import PipelineError

USAGE = """%cellpipe run NAME [--force] [--rerun-target] [-p NAME=VALUE ...] [--notebook PATH]
%cellpipe run --id CELL_ID ...
%cellpipe plan NAME [--force] [-p NAME=VALUE ...]
%cellpipe status"""


class MagicError(Exception):
    """A pipeline problem, shown by Jupyter as one line instead of a cellpipe traceback."""

    def _render_traceback_(self) -> list[str]:
        return [one_line(type(self).__name__, self)]

    @classmethod
    def named(cls, error: PipelineError) -> MagicError:
        """error as a MagicError whose class bears error's name (CycleError, ...)."""
        named = type(type(error).__name__, (cls,), {"__module__": "builtins"})
        return named(str(error))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise PipelineError(f"{message}\nusage:\n{USAGE}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%cellpipe", add_help=False)
    parser.add_argument("command", choices=["run", "plan", "status"])
    parser.add_argument("name", nargs="*")
    parser.add_argument("--id")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--rerun-target", action="store_true")
    parser.add_argument("-p", "--param", action="append", default=[])
    parser.add_argument("--notebook")
    return parser


@magics_class
class CellpipeMagics(Magics):
    """The %cellpipe line magic."""

    def __init__(self, shell: Any, session: KernelSession) -> None:
        super().__init__(shell)
        self.session = session

    @line_magic
    def cellpipe(self, line: str) -> None:
        """Run, plan or show the status of pipeline components. See `%cellpipe?`."""
        try:
            try:
                words = shlex.split(line)
            except ValueError as exc:  # an unclosed quote
                raise PipelineError(f"cannot read the arguments: {exc}\nusage:\n{USAGE}") from None
            if not words:  # argparse would say "command, name are required"
                raise PipelineError(f"say what to do: run, plan or status\nusage:\n{USAGE}")
            args = _parser().parse_args(words)
            if args.notebook:
                self.session.load(args.notebook)
            params = parse_assignments(args.param)
            ref = args.id or " ".join(args.name)
            if args.command in ("run", "plan") and not ref:
                raise PipelineError(f"name the component to {args.command}\nusage:\n{USAGE}")
            if args.command == "run":
                self.session.run(ref, force=args.force, rerun_target=args.rerun_target,
                                 parameters=params)
            elif args.command == "plan":
                self._print_plan(self.session.plan(ref, force=args.force, parameters=params))
            else:
                self._print_status()
        except (ComponentError, RunInterrupted, PipelineError) as error:
            _raise_as_cell_error(error)

    @line_magic
    @no_var_expand  # JSON, read as sent: no {expression} or $name expansion
    def cellpipe_request(self, line: str) -> None:
        """Run a component as a `run` request of the kernel protocol asks (its JSON)."""
        try:
            try:
                request = protocol.read_run_request(line)
            except ValueError as exc:
                raise PipelineError(str(exc)) from None
            self.session.run(request["target"], force=request.get("force", False),
                             rerun_target=request.get("rerun_target", False),
                             parameters=request.get("parameters"))
        except (ComponentError, RunInterrupted, PipelineError) as error:
            _raise_as_cell_error(error)

    def _print_plan(self, plan: dict[str, Any]) -> None:
        for step in plan["steps"]:
            print(f"{step['action']:>5}  {step['name']}  ({step['reason']})")

    def _print_status(self) -> None:
        state = self.session.state()
        for info in state["components"].values():
            print(f"{info['status']:>8}  {info['name']}  ({info['reason']})")
        for problem in state["problems"]:
            print(f"problem: {problem}")


def _raise_as_cell_error(error: Exception) -> NoReturn:
    """Raise error as the cell's error, as Jupyter shows one (so the cell fails, and
    `cellpipe run` exits non-zero)."""
    if isinstance(error, ComponentError):
        if error.on_stderr and error.target_name in (None, error.component_name):
            # the target's own UsageError: IPython prints it on stderr, the cell fails
            raise UsageError(error.evalue) from None
        raise error.as_named() from None
    if isinstance(error, RunInterrupted):
        raise error.as_named() from None
    raise MagicError.named(error) from None  # type: ignore[arg-type]


CellpipeMagics.cellpipe.__doc__ = USAGE
