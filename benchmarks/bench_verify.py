"""Cache verification benchmark: loading a big array result with and without checking it.

Writes one cached result holding a float64 array (default 1 GB) with the engine, then, in
the same run and on the same file, loads it from a fresh store (as a new kernel does),
interleaved and repeated, in three ways: unverified ("off", the baseline), verified as
cellpipe does by default ("stamp": the file is hashed only if it changed since its
content was last checked, so an untouched file costs a stat), and hashed on every load
("full", CELLPIPE_VERIFY=full; also what the first load of a changed or imported file
costs). A load is: the store reads the entry, the consumer gets its copy-on-write array
and sums it (touching every page, as any use does). Also times the hashes alone over the
file: the xxh3 fingerprint cellpipe checks, and SHA-256 (what manifests used to record).
The file is in the page cache for every timing; a cold read from disk only makes the
share of verification smaller.

    python benchmarks/bench_verify.py [--size-mb 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import statistics
import tempfile
import time
from pathlib import Path

from cellpipe.cache import CacheStore, load_value
from cellpipe.cache.values import fingerprint_parts
from cellpipe.engine import PipelineRunner, PythonExecutor
from cellpipe.model import Component, Pipeline


def build(root: Path, size_mb: int) -> tuple[str, Path]:
    """One cached result `big` of size_mb MB; its key and its variable file."""
    n = size_mb * 2**20 // 8
    comp = Component("make", "make", f"import numpy as np\nbig = np.random.default_rng(0)"
                                     f".standard_normal({n})")
    pipeline = Pipeline((comp,))
    runner = PipelineRunner(CacheStore(root), PythonExecutor())
    result = runner.run(pipeline, "make", materialize=False)
    assert runner.store.flush() == []
    key = result.plan.keys["make"]
    folder = runner.store.disk.entry_dir(key)
    manifest = json.loads((folder / "manifest.json").read_text())
    var = next(v for v in manifest["variables"] if v["name"] == "big")
    return key, folder / var["file"]


def load(root: Path, key: str, verify: str) -> float:
    """Seconds to load the result from a fresh store and use every byte of it."""
    start = time.perf_counter()
    store = CacheStore(root)
    assert store.disk is not None
    store.disk.verify = verify
    entry = store.get(key)
    assert entry is not None, "the entry failed verification"
    big = load_value(entry.variables["big"], {})
    float(big.sum())
    return time.perf_counter() - start


def hash_file(path: Path, how: str) -> float:
    """Seconds to hash the file's bytes (mapped, as verification reads them)."""
    start = time.perf_counter()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
        view = memoryview(mm)
        if how == "sha256":
            hashlib.sha256(view).hexdigest()
        else:
            fingerprint_parts(b"", [view])
        view.release()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellpipe-bench-verify-") as tmp:
        root = Path(tmp) / "cache"
        key, path = build(root, args.size_mb)
        load(root, key, "full")  # warm the page cache and the imports
        times: dict[str, list[float]] = {"off": [], "stamp": [], "full": [], "xxh3": [],
                                         "sha256": []}
        for _ in range(args.repeats):
            for mode in ("off", "stamp", "full"):
                times[mode].append(load(root, key, mode))
            times["xxh3"].append(hash_file(path, "xxh3"))
        for _ in range(max(1, args.repeats // 2)):
            times["sha256"].append(hash_file(path, "sha256"))
    med = {k: statistics.median(v) for k, v in times.items()}
    size = path.stat().st_size if path.exists() else args.size_mb * 2**20
    print(f"loading a {args.size_mb} MB float64 array result (median of {args.repeats}, "
          "page cache warm)")
    base = med["off"]
    print(f"  without verification            {base:7.3f} s")
    print(f"  verified (default, file untouched since checked) {med['stamp']:7.3f} s  "
          f"ratio {med['stamp'] / base:.3f} ({med['stamp'] / base - 1:+.1%}; goal under +10%)")
    print(f"  verified, hashing every byte    {med['full']:7.3f} s  "
          f"ratio {med['full'] / base:.3f} ({med['full'] / base - 1:+.1%})")
    print("hashing the file alone")
    print(f"  xxh3 fingerprint  {med['xxh3']:7.3f} s  ({size / med['xxh3'] / 2**30:.1f} GB/s), "
          f"{med['xxh3'] / base:.0%} of a load")
    print(f"  sha256            {med['sha256']:7.3f} s  "
          f"({size / med['sha256'] / 2**30:.1f} GB/s), {med['sha256'] / base:.0%} of a load")


if __name__ == "__main__":
    main()
