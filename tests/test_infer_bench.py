"""The inferred-pipeline benchmark runs and its edit cost stays within the goal (<= 0.3)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BENCH = ROOT / "benchmarks" / "bench_infer.py"
REAL = ROOT / "tests" / "fixtures" / "real"


def test_infer_benchmark_prints_edit_costs_within_the_goal():
    books = [REAL / "handson-ml2_tools_numpy.ipynb", REAL / "pdsh_03.05-Hierarchical-Indexing.ipynb",
             REAL / "wtp_14-Strings-and-Regular-Expressions.ipynb"]
    proc = subprocess.run([sys.executable, str(BENCH), *map(str, books), "--repeats", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    costs = [float(m) for m in re.findall(r"^\S+\s+\d+\s+\d+\s+(\d\.\d{3})\s", proc.stdout, re.M)]
    assert len(costs) == 3 and all(c <= 0.3 for c in costs), proc.stdout
    assert re.search(r"mean edit cost: 0\.\d{3} \(a chain: 1\.000\)", proc.stdout)
    assert re.search(r"\(181 code cells\), whole processes: cellpipe convert \d+\.\d\d s",
                     proc.stdout)
