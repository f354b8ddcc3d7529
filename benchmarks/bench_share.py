"""Cache archive benchmarks: `cellpipe cache export/import` against `tar -czf`/`tar -xzf`.

Builds a cache of numpy and pandas results (default 1 GB) with the engine, then, in the
same run and on the same files, times exporting it (cellpipe vs `tar -czf` of the entries
directory) and importing it into an empty cache (cellpipe, with every check, vs `tar -xzf`).
Also compresses a sample of the data at several gzip levels (the measurement behind the
default, see docs/sharing.md).

    python benchmarks/bench_share.py [--size-mb 1024] [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

from cellpipe.cache import CacheStore, archive
from cellpipe.engine import PipelineRunner, PythonExecutor, sharing
from cellpipe.model import Component, Parameter, Pipeline

# Each component makes about `mb` MB of a kind of result data science pipelines keep.
KINDS = {
    "floats": "import numpy as np\n"
              "floats = np.random.default_rng(1).standard_normal(int(mb * 2**20 / 8))",
    "counts": "import numpy as np\n"
              "counts = np.random.default_rng(2).integers(0, 1000, int(mb * 2**20 / 8))",
    "frame": "import numpy as np, pandas as pd\n"
             "n = int(mb * 2**20 / 40)\nrng = np.random.default_rng(3)\n"
             "frame = pd.DataFrame({'price': rng.gamma(2.0, 10.0, n).round(2),\n"
             "    'qty': rng.integers(1, 50, n), 'day': pd.date_range('2020', periods=n, freq='min'),\n"
             "    'shop': pd.Categorical(rng.choice(['north', 'south', 'east', 'west'], n)),\n"
             "    'ok': rng.random(n) > 0.1})",
    "features": "import numpy as np\n"
                "features = (np.random.default_rng(4).random((int(mb * 2**20 / 4 / 64), 64))\n"
                "            .astype('float32'))",
}


def build_cache(root: Path, size_mb: int) -> Pipeline:
    """A cache holding about size_mb MB: several components of each kind."""
    per = max(1, size_mb // 16)  # 16 components
    comps = [Component(f"{kind}{i}", f"{kind} {i}",
                       code.replace("mb", str(per)).replace("default_rng(", f"default_rng({i}0+"))
             for i in range(4) for kind, code in KINDS.items()]
    pipeline = Pipeline(tuple(comps), {"seed": Parameter("seed", "int", 0)})
    store = CacheStore(root, notebook="bench")
    runner = PipelineRunner(store, PythonExecutor())
    for comp in comps:
        runner.run(pipeline, comp.id, materialize=False)
        assert store.flush() == []
    return pipeline


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def levels(root: Path, sample_mb: int = 48, repeats: int = 2) -> None:
    """gzip levels on a sample of every kind of data: throughput (best of repeats), size."""
    data = bytearray()
    files = sorted(root.rglob("var*.bin"))
    each = sample_mb * 2**20 // max(1, len(files))
    for f in files:
        with open(f, "rb") as src:
            data += src.read(each)
    print(f"\ngzip levels on a {len(data) / 2**20:.0f} MB sample of the cache's files "
          f"(best of {repeats}):")
    print(f"{'':32}{'MB/s':>8}{'size':>8}")

    def row(label: str, compress, sample: bytes | bytearray) -> None:
        best, size = float("inf"), 0
        for _ in range(repeats):
            start = time.perf_counter()
            size = compress(sample)
            best = min(best, time.perf_counter() - start)
        print(f"  {label:<30}{len(sample) / 2**20 / best:8.0f}{size / len(sample):8.1%}")

    def chunks(level: int):
        def run(sample: bytes | bytearray) -> int:
            sink = _Count()
            writer = archive.ChunkedGzipWriter(sink, level)
            writer.write(sample)
            writer.close()
            return sink.n
        return run

    for level in (1, 6):
        row(f"zlib level {level}, one stream", lambda b, lv=level: len(zlib.compress(b, lv)), data)
    row("zlib level 9 (first 4 MB)", lambda b: len(zlib.compress(b, 9)), data[: 4 << 20])
    for level in (0, 1, 6):
        row(f"cellpipe chunks, level {level}", chunks(level), data)


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def write(self, b: bytes) -> int:
        self.n += len(b)
        return len(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--levels-only", action="store_true",
                        help="only the gzip level comparison (no export/import timing)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-share-", dir=args.dir))
    try:
        src = work / "cache"
        print(f"building a {args.size_mb} MB cache in {src} ...", flush=True)
        pipeline = build_cache(src, args.size_mb)
        size = du(src / "entries")
        print(f"cache: {len(list((src / 'entries').iterdir()))} entries, {size / 2**20:.0f} MB")
        selection = sharing.current_entries(pipeline, CacheStore(src, notebook="bench"),
                                            pipeline.parameter_values())
        assert not selection.missing and len(selection.entries) == len(pipeline.components)
        if args.levels_only:
            levels(src / "entries")
            return
        ours, theirs = work / "ours.tar.gz", work / "theirs.tar.gz"
        archive.manifest_schema()  # module imports (jsonschema) are not part of the stream
        import jsonschema  # noqa: F401
        timings: dict[str, list[float]] = {k: [] for k in ("export", "tar -czf", "import",
                                                           "tar -xzf")}
        dest, untar = work / "imported", work / "untarred"
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            timings["export"].append(timed(lambda: archive.export_archive(selection, ours)))
            timings["tar -czf"].append(timed(lambda: subprocess.run(
                ["tar", "-czf", str(theirs), "-C", str(src), "entries"], check=True)))
            shutil.rmtree(dest, ignore_errors=True)
            timings["import"].append(timed(lambda: archive.import_archive(
                ours, CacheStore(dest), confirm=lambda s: True,
                limits=archive.Limits(max_total_size=1 << 40))))
            assert du(dest / "entries") == size
            shutil.rmtree(untar, ignore_errors=True)
            untar.mkdir()
            timings["tar -xzf"].append(timed(lambda: subprocess.run(
                ["tar", "-xzf", str(theirs), "-C", str(untar)], check=True)))
        best = {k: min(v) for k, v in timings.items()}
        mb = size / 2**20
        print(f"\n{'':28}{'seconds':>9}{'MB/s':>8}{'archive':>10}")
        for name, path in (("cellpipe cache export", ours), ("tar -czf", theirs)):
            key = "export" if name.startswith("cellpipe") else name
            print(f"{name:28}{best[key]:9.2f}{mb / best[key]:8.0f}"
                  f"{path.stat().st_size / size:10.1%}")
        for name, key in (("cellpipe cache import", "import"), ("tar -xzf", "tar -xzf")):
            print(f"{name:28}{best[key]:9.2f}{mb / best[key]:8.0f}")
        print(f"\nexport / tar -czf: {best['export'] / best['tar -czf']:.2f}x (goal <= 1.2x)")
        print(f"import / tar -xzf: {best['import'] / best['tar -xzf']:.2f}x (goal <= 1.2x)"
              "  (import verifies the sha256 and the entry checksums of every file, staged, then renamed)")
        levels(src / "entries")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
