"""Issue 11 items 3 and 4: a result whose bytes changed is never served, a damaged manifest
makes its entry absent, and the cache is private (0700/0600, refused when others can write)."""

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbutil import make_notebook

from cellpipe.cache import CacheStore
from cellpipe.cache.disk import manifest_checksum
from cellpipe.cache.privacy import UnsafeCacheError
from cellpipe.cache.values import fingerprint_parts
from cellpipe.cli import main
from cellpipe.engine import PipelineRunner, PythonExecutor
from cellpipe.model import pipeline_from_notebook


def cellpipe(*args, cache):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


def entry_dirs(cache: Path) -> dict[str, Path]:
    """component name -> its entry directory (one entry per component in these tests)."""
    found = {}
    for folder in (cache / "entries").iterdir():
        found[json.loads((folder / "manifest.json").read_text())["name"]] = folder
    return found


PIPELINE = make_notebook([
    ("import numpy as np\narr = np.arange(200_000, dtype=np.int64)\n"
     "meta = {'rows': len(arr), 'tags': ['a', 'b']}\nlabel = 'raw data'", "load", []),
    ("arr2 = arr * 3\ntotal = int(arr2.sum())\nsummary = dict(meta, total=total)", "double", ["load"]),
    ("result = (total, summary['rows'], label.upper())\nprint(result)", "report", ["double"]),
])
PIPE = pipeline_from_notebook(PIPELINE)


def run_values(cache: Path | None) -> dict:
    """The target's state after a run with a fresh store over cache (as a new process has)."""
    runner = PipelineRunner(CacheStore(cache), PythonExecutor())
    result = runner.run(PIPE, "report")
    runner.store.flush()
    ns = result.namespace
    return {"arr": ns["arr"].tolist(), "arr2": ns["arr2"].tolist(), "meta": ns["meta"],
            "total": ns["total"], "summary": ns["summary"], "label": ns["label"],
            "result": ns["result"], "outputs": result.target_outputs,
            "warnings": result.warnings, "executed": result.executed}


COLD = run_values(None)


@pytest.mark.kernel
def test_overwritten_bytes_in_a_cached_array_are_recomputed_not_served(tmp_path):
    nb = make_notebook([
        ("import numpy as np\nbig = np.ones(1_000_000)", "make", []),
        ("print('sum', big.sum())", "total", ["make"]),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    cache = tmp_path / "c"
    first = cellpipe("run", path, cache=cache)
    assert first.returncode == 0 and first.stdout == "sum 1000000.0\n", first.stderr
    var = max((entry_dirs(cache)["make"]).glob("var*.bin"), key=lambda p: p.stat().st_size)
    with open(var, "r+b") as f:  # 8 KB of other bytes in the middle of the array
        f.seek(var.stat().st_size // 2)
        f.write(b"\x00" * 8192)
    again = cellpipe("run", path, cache=cache)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "sum 1000000.0\n"  # the right sum, from a recomputed 'make'
    assert "cached result of component 'make' is damaged" in again.stderr
    assert "computed again" in again.stderr
    third = cellpipe("run", path, cache=cache)  # the rewritten entry is sound again
    assert third.returncode == 0 and third.stdout == "sum 1000000.0\n"
    assert "damaged" not in third.stderr and third.stderr.count("cached") >= 2


def test_a_changed_byte_anywhere_in_an_entry_is_never_served(tmp_path):
    cache = tmp_path / "c"
    assert run_values(cache)["executed"] == ["load", "double", "report"]
    for name, folder in entry_dirs(cache).items():
        for file in sorted(folder.iterdir()):
            if file.name == "checked.json":
                continue  # advisory: damaging it only makes the next load hash again
            original = file.read_bytes()
            data = bytearray(original)
            data[len(data) // 3] ^= 0x20
            file.write_bytes(bytes(data))
            values = run_values(cache)
            assert {k: values[k] for k in COLD if k not in ("warnings", "executed")} == {
                k: COLD[k] for k in COLD if k not in ("warnings", "executed")}, (name, file.name)
            assert name in values["executed"], (name, file.name)  # recomputed, not served
            assert any(name in w and ("damaged" in w or "computed again" in w)
                       for w in values["warnings"]), values["warnings"]


def _corruptions():
    return st.tuples(st.integers(min_value=0, max_value=10_000),
                     st.floats(min_value=0, max_value=1, exclude_max=True),
                     st.integers(min_value=1, max_value=255))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hits=st.lists(_corruptions(), min_size=1, max_size=3))
def test_property_random_corruption_gives_the_cold_result_or_a_one_line_error(tmp_path_factory,
                                                                              hits):
    """Random byte corruption of any cache file -> the run's results equal a cold run's, or
    the run fails with a one-line message; never a different value."""
    cache = tmp_path_factory.mktemp("cache")
    run_values(cache)
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    for which, where, flip in hits:
        file = files[which % len(files)]
        data = bytearray(file.read_bytes())
        if data:
            data[int(where * len(data))] ^= flip
            file.write_bytes(bytes(data))
    try:
        values = run_values(cache)
    except Exception as exc:  # allowed: a clear one-line failure
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return
    assert {k: values[k] for k in COLD if k not in ("warnings", "executed")} == {
        k: COLD[k] for k in COLD if k not in ("warnings", "executed")}


def test_an_entry_that_cannot_be_unpickled_is_recomputed_with_one_line(tmp_path):
    cache = tmp_path / "c"
    run_values(cache)
    folder = entry_dirs(cache)["double"]
    manifest = json.loads((folder / "manifest.json").read_text())
    var = next(v for v in manifest["variables"] if v["name"] == "summary")
    garbage = b"\x80\x05this is not a pickle"
    (folder / var["file"]).write_bytes(garbage)
    # a sound entry (digests and checksum match) that still cannot be loaded, as when the
    # class of a pickled object moved
    var["sizes"], var["offsets"] = [len(garbage)], [0]
    var["fingerprint"] = fingerprint_parts(garbage, [])
    var.pop("digest", None)
    manifest["checksum"] = manifest_checksum(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    values = run_values(cache)
    assert values["summary"] == COLD["summary"] and "double" in values["executed"]
    notice = next(w for w in values["warnings"] if "'double'" in w)
    assert "cannot be loaded" in notice and "\n" not in notice and "cellpipe/" not in notice


def test_old_entries_with_sha256_only_are_verified_with_sha256(tmp_path):
    cache = tmp_path / "c"
    run_values(cache)
    for folder in entry_dirs(cache).values():  # rewrite every manifest as cellpipe 0.1 did
        manifest = json.loads((folder / "manifest.json").read_text())
        for var in manifest["variables"]:
            var["sha256"] = hashlib.sha256((folder / var["file"]).read_bytes()).hexdigest()
            var.pop("digest", None)
        del manifest["digest"], manifest["checksum"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    served = run_values(cache)
    assert served["executed"] == [] and served["result"] == COLD["result"]
    arr_file = entry_dirs(cache)["load"]
    big = max(arr_file.glob("var*.bin"), key=lambda p: p.stat().st_size)
    data = bytearray(big.read_bytes())
    data[-100] ^= 1
    big.write_bytes(bytes(data))
    again = run_values(cache)
    assert again["arr"] == COLD["arr"] and "load" in again["executed"]


def test_a_truncated_manifest_makes_the_entry_absent_until_gc_or_force(tmp_path, monkeypatch):
    cache = tmp_path / "c"
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(cache))
    run_values(cache)
    folder = entry_dirs(cache)["double"]
    manifest = folder / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:57])
    path = tmp_path / "nb.ipynb"
    nbformat.write(PIPELINE, path)
    cli = CliRunner()
    planned = json.loads(cli.invoke(main, ["plan", str(path), "--json"]).output)
    assert [(s["name"], s["action"]) for s in planned[0]["steps"]] == [
        ("load", "cache"), ("double", "run"), ("report", "cache")]
    listing = cli.invoke(main, ["cache", "ls"])
    assert listing.exit_code == 0 and "2 entries" in listing.output
    assert "1 damaged entries" in listing.output and "truncated" in listing.output
    forced = PipelineRunner(CacheStore(cache), PythonExecutor())
    forced.run(PIPE, "report", force=True)  # --force rebuilds it
    forced.store.flush()
    assert json.loads(manifest.read_text())["name"] == "double"
    manifest.write_bytes(b"{")
    gc = cli.invoke(main, ["cache", "gc"])
    assert gc.exit_code == 0 and "removed 1 entries" in gc.output
    assert not folder.exists()
    assert "damaged" not in cli.invoke(main, ["cache", "ls"]).output


def test_cache_directories_are_0700_and_files_0600(tmp_path):
    cache = tmp_path / "fresh" / "c"
    run_values(cache)
    dirs = [cache, *(p for p in cache.rglob("*") if p.is_dir())]
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert len(files) > 5
    assert {oct(stat.S_IMODE(d.stat().st_mode)) for d in dirs} == {"0o700"}
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {"0o600"}


@pytest.mark.parametrize("how, message", [
    ("world-writable", "can be written by other users (mode 777)"),
    ("group-writable-entries", "can be written by other users (mode 770)"),
    ("other-owner", "belongs to another user (uid 54321)"),
    ("other-owner-entry", "belongs to another user (uid 54321)"),
])
def test_a_cache_others_could_write_is_refused(tmp_path, monkeypatch, how, message):
    cache = tmp_path / "shared"
    run_values(cache)
    if how == "world-writable":
        cache.chmod(0o777)
    elif how == "group-writable-entries":
        (cache / "entries").chmod(0o770)
    elif how == "other-owner":
        os.chown(cache, 54321, -1)
    else:
        os.chown(entry_dirs(cache)["load"], 54321, -1)
    runner = PipelineRunner(CacheStore(cache), PythonExecutor())
    with pytest.raises(UnsafeCacheError, match="refusing to load results") as caught:
        runner.run(PIPE, "report")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(cache))
    path = tmp_path / "nb.ipynb"
    nbformat.write(PIPELINE, path)
    for command in (["plan", str(path)], ["run", str(path)]):
        result = CliRunner().invoke(main, command)
        if how == "other-owner-entry" and command[0] == "run":
            continue  # the entry is only looked at by the kernel (next test)
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


@pytest.mark.kernel
def test_cellpipe_run_refuses_a_world_writable_cache_before_starting_a_kernel(tmp_path):
    marker = tmp_path / "ran.txt"
    nb = make_notebook([(f"open({str(marker)!r}, 'w').write('x')", "touch", [])])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    cache = tmp_path / "shared"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    proc = cellpipe("run", path, cache=cache)
    assert proc.returncode == 1 and "can be written by other users" in proc.stderr
    assert not marker.exists()
    cache.chmod(0o700)
    ok = cellpipe("run", path, cache=cache)
    assert ok.returncode == 0 and marker.exists()
    os.chown(next((cache / "entries").iterdir()), 54321, -1)  # an entry someone else planted
    refused = cellpipe("run", path, cache=cache)
    assert refused.returncode == 1 and "belongs to another user" in refused.stderr


def test_verification_benchmark_prints_its_ratio():
    bench = Path(__file__).parent.parent / "benchmarks" / "bench_verify.py"
    proc = subprocess.run([sys.executable, str(bench), "--size-mb", "16", "--repeats", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ratio" in proc.stdout and "sha256" in proc.stdout
