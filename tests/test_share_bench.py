"""The cache archive benchmark runs (tiny size) and prints its ratios against tar."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench_share.py"


def test_share_benchmark_prints_its_ratios(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--size-mb", "16", "--repeats", "1",
                           "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"export / tar -czf: \d+\.\d\dx", proc.stdout)
    assert re.search(r"import / tar -xzf: \d+\.\d\dx", proc.stdout)
    assert re.search(r"cellpipe chunks, level 1\s+\d+\s+[\d.]+%", proc.stdout)
    assert list(tmp_path.iterdir()) == []  # the benchmark removes its files
