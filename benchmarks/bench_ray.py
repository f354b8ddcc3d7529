"""Round trip of a trivial component on a Ray alias, against a bare Ray task of the same
kind (`max_calls=1`) measured in the same run; the `local` alias for scale.

    python benchmarks/bench_ray.py [--rounds N]

Starts its own Ray head on 127.0.0.1 (free ports, a temp dir) and stops it (`ray stop
--force`). With `max_calls=1` every task retires its worker process, so Ray alternates
between a prestarted worker and starting one: both kinds are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from remoteutil import free_port, pipe_with_workers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cpbench"))
    os.environ["CELLPIPE_CONFIG_DIR"] = str(root / "config")
    os.environ["CELLPIPE_CACHE_DIR"] = str(root / "cache")
    import ray

    from cellpipe.cache import CacheStore
    from cellpipe.engine import PipelineRunner, PythonExecutor
    from cellpipe.remote import WorkerRegistry, WorkerSpec, WorkerSteps

    exe = Path(sys.executable).parent / "ray"
    tmp = tempfile.mkdtemp(prefix="cpray")
    client_port = free_port()
    # without this Ray swaps 127.0.0.1 for the machine's own address: stay on loopback
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env = {**os.environ, "RAY_TMPDIR": tmp}
    subprocess.run([str(exe), "start", "--head", "--node-ip-address=127.0.0.1",
                    f"--port={free_port()}", f"--ray-client-server-port={client_port}",
                    "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                    f"--temp-dir={tmp}"], env=env, check=True, capture_output=True)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", client_port), 0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        WorkerRegistry().add(WorkerSpec("bench-ray", f"ray://127.0.0.1:{client_port}",
                                        (root / "store").as_uri()))

        def component(alias: str, i: int) -> float:
            pipeline, _ = pipe_with_workers([(f"x = {i}", "t", [])], {"t": alias})
            runner = PipelineRunner(CacheStore(root / f"cache-{alias}-{i}"), PythonExecutor(), remote=WorkerSteps())
            started = time.perf_counter()
            runner.run(pipeline, "t")
            return time.perf_counter() - started

        def bare() -> int:
            x = 1
            return x

        def show(what: str, times: list[float]) -> float:
            ms = [round(t * 1000) for t in times]
            print(f"{what}: median {statistics.median(times) * 1000:.0f} ms, "
                  f"fastest {min(ms)} ms, slowest {max(ms)} ms  {ms}")
            return statistics.median(times)

        component("bench-ray", 0)  # connects
        ours = show("trivial component on a Ray alias",
                    [component("bench-ray", i) for i in range(1, args.rounds + 1)])
        remote_bare = ray.remote(max_calls=1)(bare)
        ray.get(remote_bare.remote())
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            ray.get(remote_bare.remote())
            times.append(time.perf_counter() - started)
        base = show("bare Ray task (max_calls=1)", times)
        component("local", 0)
        show("trivial component on `local`",
             [component("local", i) for i in range(1, args.rounds + 1)])
        print(f"Ray alias / bare Ray task (medians): {ours / base:.2f}x")
    finally:
        ray.shutdown()
        subprocess.run([str(exe), "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
