"""Build hook: compile cellpipe's NumPy memory handler (cellpipe/cache/values/memfd_alloc.c)
into a plain shared library, loaded with ctypes (cellpipe/cache/values/alloc.py).

It needs a C compiler and Linux; without them cellpipe works the same, copying big new
arrays once instead (the hook says so and goes on)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "cellpipe/cache/values/memfd_alloc.c"
LIBRARY = "cellpipe/cache/values/_memfd_alloc.so"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships the C source
        root = Path(self.root)
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if not sys.platform.startswith("linux") or compiler is None:
            print("cellpipe: no C compiler (or not Linux): big arrays will be copied once "
                  "instead of made in memfds", file=sys.stderr)
            return
        out = root / LIBRARY
        try:
            subprocess.run([compiler, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(out),
                            str(root / SOURCE)], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            print(f"cellpipe: could not build {LIBRARY} ({detail.strip()[-500:]}): big "
                  "arrays will be copied once instead", file=sys.stderr)
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["artifacts"].append(LIBRARY)
