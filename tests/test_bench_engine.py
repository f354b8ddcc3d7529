"""The engine benchmark runs and prints its figures (smaller sizes: --quick)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench_engine.py"


def test_engine_benchmark_prints_its_ratios():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"overhead \d+\.\d+ ms/component", out)
    assert re.search(r"warm \(memory\)\s+:\s+[\d.]+ s = [\d.]+% of cold", out)
    assert re.search(r"after restart \(disk\)\s+:\s+[\d.]+ s = [\d.]+% of cold", out)
    assert re.search(r"per consumer = [\d.]+x memcpy", out)
