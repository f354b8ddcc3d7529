"""Where the CLI prints: results to stdout, progress and notes to stderr."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape

from cellpipe.model.text import printable

err = Console(stderr=True, highlight=False)

# the colour codes of a rendered traceback, dropped where plain text is printed
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
out = Console(highlight=False)


def shown(text: object, markup: bool = True) -> str:
    """Text from a notebook, a cache or a message built from them (names, parameters,
    aliases), safe to print: control characters escaped (model.text.printable) and, unless
    markup=False (plain echo), rich markup such as `[red]` made inert."""
    safe = printable(text)
    return escape(safe) if markup else safe


def human_size(n: float) -> str:
    """Bytes as people read them: 512 B, 1.5 KB, 2.0 GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
