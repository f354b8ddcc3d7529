"""Text from a notebook, as a terminal may show it: control characters escaped.

A shared notebook can name a component `"\x1b[2J  done"`: printed raw, that clears the
screen or forges a line. Every command and view that prints names, parameters, aliases or
cell text passes them through `printable` (the CLI adds rich's markup escape on top).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional overrides
# ("Trojan source"): whatever moves the cursor, changes colours or reorders what is read
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f"
                               "\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(text: object, keep_tabs: bool = False) -> str:
    """text with every control character written as its escape (ESC as \\x1b, a newline
    as \\n): one line that changes nothing on the terminal. keep_tabs for code lines."""
    return (_CONTROLS_BUT_TAB if keep_tabs else _CONTROLS).sub(_escape, str(text))
