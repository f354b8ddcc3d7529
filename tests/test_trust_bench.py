"""Issue 20 item 8: the scaling benchmark runs and prints its ratios; 10x the work costs at
most 12x the time (plan over sinks, cache export over a chain: linear, not quadratic)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench_scale.py"


def test_plan_and_cache_export_scale_linearly():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    ratios = dict(re.findall(r"^(plan|plan --json|cache export)\s+10x / 1x = ([\d.]+)",
                             proc.stdout, re.M))
    assert set(ratios) == {"plan", "plan --json", "cache export"}, proc.stdout
    assert all(float(r) <= 12 for r in ratios.values()), proc.stdout
