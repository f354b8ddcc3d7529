"""The nbclient comparison benchmark runs and prints its ratios (smallest sizes)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench_datapath.py"

pytestmark = pytest.mark.kernel


def test_datapath_benchmark_prints_its_ratios():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--cases", "start,array",
                           "--repeat", "1", "--array-mb", "8"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"\[start\] %load_ext cellpipe .*: min \d+ ms", out)
    assert re.search(r"run +plain +min +[\d.]+ s", out)
    assert re.search(r"cellpipe min +[\d.]+ s +median +[\d.]+ s +ratio +[\d.]+x", out)
    assert re.search(r"kernel peak RSS \(VmHWM\) +plain +min +\d+ MB", out)
    assert re.search(r"held \(RSS \+ memfd, sampled\)", out)
