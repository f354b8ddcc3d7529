"""Issue 20 item 6 through the CLI: nothing silent. A full cache disk (a real 4 MB tmpfs) is said
once per run with the bytes that did not fit, the memory-limit notice claims no spill that
failed, and `cache gc` counts what it frees from leftovers of killed processes."""

import os
import subprocess
import sys
import tempfile

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs at tmp_path/small (needs root or CAP_SYS_ADMIN; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.kernel
def test_a_full_cache_disk_is_said_once_with_the_bytes_that_did_not_fit(tmp_path, small_disk):
    nb = make_notebook([("import os\ndata = os.urandom(6_000_000)", "big", []),
                        ("print('total', len(data) + 1)", "report", ["big"])])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    cache = small_disk / "cache"
    # the memory limit sends 'big' to disk during the run: that spill fails too
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache), "CELLPIPE_MEMORY_LIMIT": "1M"}
    for _ in range(2):  # every run says it, once
        run = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", "nb.ipynb"],
                             cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout == "total 6000001\n"  # the results are right
        assert run.stderr.count("the cache disk is full") == 1, run.stderr
        line = next(ln for ln in run.stderr.splitlines() if "the cache disk is full" in ln)
        assert "1 result(s), 6,000," in line and f"did not fit in {cache} " in line, line
        assert "memory limit" not in run.stderr and "not written" not in run.stderr
        assert "done  big" in run.stderr  # not cached: it runs again


def test_cache_gc_counts_what_it_frees_from_killed_processes(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = os.getpid()
    folders = {
        cache / "tmp" / "0123abcd.5f5f": 1 << 20,  # a write killed with -9
        cache / "tmp" / "staged-9f9f": 1 << 20,  # an import killed with -9
        tmp_path / "tmp" / f"cellpipe-spill-{dead.pid}-x1y2": 2 << 20,  # a killed kernel's spill
        tmp_path / "tmp" / f"cellpipe-spill-{alive}-a1b2": 1 << 20,  # a live one: kept
    }
    for folder, size in folders.items():
        folder.mkdir(parents=True, mode=0o700)
        (folder / "var0.bin").write_bytes(b"\0" * size)
    (cache / "entries").mkdir(mode=0o700)
    os.chmod(cache, 0o700)
    result = CliRunner().invoke(main, ["cache", "gc"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("removed 0 entries and 3 leftovers of interrupted runs, "
                                     "freed 4.0 MB")
    assert [f.exists() for f in folders] == [False, False, False, True]
