"""Remote execution benchmarks, each against a baseline measured in the same run:

1. round trip of a trivial component on the `local` alias and on an RQ worker, against a
   bare RQ job running the same code (both include the fresh process per task);
2. a diamond whose two branches each sleep 2 s: wall time on 2 workers / on 1 (goal <= 0.6);
3. a 1 GB numpy input shipped to a worker and a 1 GB result back (Redis + file:// store,
   the disk cache on, as a new user runs it), against `cp` of the same bytes.

    python benchmarks/bench_remote.py [--quick]

Starts its own redis-server and `cellpipe worker` processes on loopback; stops them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fsspec  # noqa: E402
import numpy as np  # noqa: E402
from redis import Redis  # noqa: E402
from remoteutil import RedisServer, start_worker, stop  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import JobStatus  # noqa: E402

from cellpipe.cache import CacheStore  # noqa: E402
from cellpipe.engine import PipelineRunner, PythonExecutor  # noqa: E402
from cellpipe.model import Component, Pipeline  # noqa: E402
from cellpipe.remote import WorkerRegistry, WorkerSpec, WorkerSteps  # noqa: E402
from cellpipe.remote.rqueue import queue_name  # noqa: E402


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def round_trip(redis_url: str, repeats: int) -> None:
    code = "x = 1"
    results = {}
    for alias in ("local", "rt"):
        pipeline = Pipeline((Component("t", "trivial", code, (), alias),))
        runner = PipelineRunner(CacheStore(None), PythonExecutor(), remote=WorkerSteps())
        runner.run(pipeline, "t", force=True)  # warm: fork server, connections
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            runner.run(pipeline, "t", force=True, materialize=False)
            samples.append(time.perf_counter() - start)
        results[alias] = median_ms(samples)
    queue = Queue(queue_name("rt"), connection=Redis.from_url(redis_url))
    samples = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        # the bare job: RQ runs exec(code) in its work horse, nothing else
        job = queue.enqueue(exec, code, job_id=uuid.uuid4().hex)
        while job.get_status(refresh=True) != JobStatus.FINISHED:
            time.sleep(0.002)
        if i:
            samples.append(time.perf_counter() - start)
    bare = median_ms(samples)
    print(f"1. round trip of a trivial component (median of {repeats}, fresh process per task)")
    print(f"   local alias      {results['local']:7.1f} ms   (goal < 150 ms)")
    print(f"   RQ worker        {results['rt']:7.1f} ms   (goal < 150 ms)")
    print(f"   bare RQ job      {bare:7.1f} ms   (same code, polled the same way)")
    print(f"   ratio RQ/bare    {results['rt'] / bare:7.2f}x")


def diamond(redis_url: str, store: str, seconds: float) -> None:
    walls = {}
    for workers in (1, 2):
        alias = f"diamond{workers}"
        WorkerRegistry().add(WorkerSpec(alias, redis_url, store))
        proc = start_worker(alias, redis_url, store, concurrency=workers)
        try:
            pipeline = Pipeline((
                Component("root", "root", "base = 1"),
                Component("l", "left", f"import time\ntime.sleep({seconds})\nl = base",
                          ("root",), alias),
                Component("r", "right", f"import time\ntime.sleep({seconds})\nr = base",
                          ("root",), alias),
                Component("j", "join", "j = l + r", ("l", "r")),
            ))
            runner = PipelineRunner(CacheStore(None), PythonExecutor(), remote=WorkerSteps())
            start = time.perf_counter()
            runner.run(pipeline, "j", force=True)
            walls[workers] = time.perf_counter() - start
        finally:
            stop(proc)
    print(f"2. diamond, two branches of {seconds:g} s each")
    print(f"   1 worker   {walls[1]:6.2f} s")
    print(f"   2 workers  {walls[2]:6.2f} s   ratio {walls[2] / walls[1]:.2f}x (goal <= 0.6x)")


def big_data(redis_url: str, store: str, nbytes: int, repeats: int, tmp: Path) -> None:
    """What a user measures: the run of a component that takes a big array from an ancestor
    and returns one as big, on an RQ worker over a file store, with the disk cache on, from
    start to the results on disk; against `cp` of the same bytes (in and out)."""
    alias = "big"
    WorkerRegistry().add(WorkerSpec(alias, redis_url, store))
    proc = start_worker(alias, redis_url, store)
    try:
        fs, root = fsspec.core.url_to_fs(store)
        payload = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
        fs.makedirs(f"{root}/raw", exist_ok=True)

        def raw_round() -> float:
            """Write the bytes to the store and read them back, as fsspec does: seconds."""
            start = time.perf_counter()
            with fs.open(f"{root}/raw/blob", "wb") as f:
                f.write(memoryview(payload))
            data = fs.cat_file(f"{root}/raw/blob")
            took = time.perf_counter() - start
            assert len(data) == nbytes
            fs.rm_file(f"{root}/raw/blob")
            return took

        src, dst = tmp / "cp-src", tmp / "cp-dst"
        payload.tofile(src)

        def cp_round() -> float:
            """`cp` of the bytes, once each way (the input out, the result back): seconds."""
            start = time.perf_counter()
            for _ in range(2):
                subprocess.run(["cp", str(src), str(dst)], check=True)
                dst.unlink()
            return time.perf_counter() - start

        pipeline = Pipeline((
            Component("m", "make", f"import numpy as np\na = np.random.default_rng(0)"
                                   f".integers(0, 255, {nbytes}, dtype=np.uint8)"),
            Component("u", "use", "b = a + 1\ndel a", ("m",), alias),
        ))
        rounds = []
        for i in range(repeats):  # interleaved: the machine is shared
            if fs.exists(f"{root}/entries"):  # a new user: nothing in the store yet
                fs.rm(f"{root}/entries", recursive=True)
            cache = tmp / f"user-cache-{i}"
            runner = PipelineRunner(CacheStore(cache), PythonExecutor(), remote=WorkerSteps())
            runner.run(pipeline, "m")  # the input exists (on disk too) before the clock starts
            runner.store.flush()
            raw = 2 * nbytes / (raw_round() + raw_round())
            cp = cp_round() if i % 2 == 0 else 0.0  # which side goes first alternates
            start = time.perf_counter()
            res = runner.run(pipeline, "u", materialize=False)
            ended = time.perf_counter() - start
            runner.store.flush()  # the result reaches the disk cache, as a user waits for
            wall = time.perf_counter() - start
            compute = runner.store.get(res.plan.step("u").key).elapsed
            cp = cp or cp_round()
            rounds.append((wall, ended, compute, cp, raw))
            shutil.rmtree(cache, ignore_errors=True)
        src.unlink()
    finally:
        stop(proc)
    gb = nbytes / (1 << 30)
    walls, ends, computes, cps, raws = (list(x) for x in zip(*rounds, strict=True))
    bare = [w - c for w, c in zip(walls, computes, strict=True)]
    med = statistics.median
    print(f"3. {gb:g} GB input to the worker and {gb:g} GB result back (Redis + file store, "
          f"disk cache on, from a new user's empty store; {repeats} runs, interleaved with cp)")
    print(f"   cp of the same bytes (in, out)  min {min(cps):6.2f} s  median {med(cps):6.2f} s")
    print(f"   cellpipe, result on disk        min {min(walls):6.2f} s  median {med(walls):6.2f} s"
          f"   {med(cps) / med(walls):.2f}x of cp (of mins {min(cps) / min(walls):.2f}x)")
    print(f"   ... without the compute         min {min(bare):6.2f} s  median {med(bare):6.2f} s"
          f"   {med(cps) / med(bare):.2f}x of cp (of mins {min(cps) / min(bare):.2f}x)")
    print(f"   (end of the run: median {med(ends):.2f} s; the task's compute: median "
          f"{med(computes):.2f} s, min {min(computes):.2f} s; raw fsspec store write+read "
          f"{med(raws) / (1 << 20):.0f} MB/s)")
    for i, (wall, ended, compute, cp, _raw) in enumerate(rounds, 1):
        print(f"   run {i}: {wall:.2f} s ({ended:.2f} s to the end of the run, {compute:.2f} s "
              f"of it compute), cp {cp:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cellpipe-bench-remote-"))
    os.environ["CELLPIPE_CONFIG_DIR"] = str(tmp / "config")
    os.environ["CELLPIPE_CACHE_DIR"] = str(tmp / "cache")
    server = RedisServer().start()
    store = (tmp / "store").as_uri()
    try:
        WorkerRegistry().add(WorkerSpec("rt", server.url, store))
        proc = start_worker("rt", server.url, store)
        try:
            round_trip(server.url, 5 if args.quick else 30)
        finally:
            stop(proc)
        diamond(server.url, store, 0.5 if args.quick else 2.0)
        big_data(server.url, store, (64 << 20) if args.quick else (1 << 30),
                 2 if args.quick else 3, tmp)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
