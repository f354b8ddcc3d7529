"""Where the CLI prints: results to stdout, progress and notes to stderr."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def human_size(n: float) -> str:
    """Bytes as people read them: 512 B, 1.5 KB, 2.0 GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
