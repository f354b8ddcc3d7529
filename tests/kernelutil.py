"""A real kernel with cellpipe loaded, for tests."""

from __future__ import annotations

import os
import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(lines: list[str]) -> list[str]:
    """Traceback lines without colours, cell labels normalised, split on newlines."""
    text = ANSI.sub("", "\n".join(lines))
    text = re.sub(r"In\[[^\]]*\]", "In[N]", text)
    return text.splitlines()


def kernel_env(cache_dir) -> dict[str, str]:
    env = dict(os.environ)
    env["CELLPIPE_CACHE_DIR"] = str(cache_dir)
    env.pop("JPY_SESSION_NAME", None)
    return env


def streams(execution, name: str = "stdout") -> str:
    return "".join(o["text"] for o in execution.outputs
                   if o["output_type"] == "stream" and o["name"] == name)


def event_statuses(events: list[dict], run_target: str | None = None) -> list[tuple[str, str]]:
    return [(e["name"], e["status"]) for e in events
            if e.get("op") == "event" and (run_target is None or e["target"] == run_target)]
