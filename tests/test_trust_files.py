"""Issue 20 item 5 through the CLI: files users own. In-place writes go through a symlink and
keep the file's mode; cache entry files others can write, or another user owns, are refused."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def linked(tmp_path, source, mode):
    """tmp_path/real/nb.ipynb (mode) and tmp_path/work/nb.ipynb, a symlink to it."""
    (tmp_path / "real").mkdir()
    (tmp_path / "work").mkdir()
    real = tmp_path / "real" / "nb.ipynb"
    shutil.copyfile(source, real)
    real.chmod(mode)
    link = tmp_path / "work" / "nb.ipynb"
    link.symlink_to(real)
    return real, link


def test_convert_in_place_writes_through_a_symlink_and_keeps_the_mode(tmp_path):
    real, link = linked(tmp_path, FIXTURES / "link_nbformat45.ipynb", 0o640)
    result = CliRunner().invoke(main, ["convert", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == real
    assert real.stat().st_mode & 0o777 == 0o640
    assert '"cellpipe"' in real.read_text() and '"canvas"' not in real.read_text()
    assert sorted(p.name for p in real.parent.iterdir()) == ["nb.ipynb"]  # no temp file left


@pytest.mark.kernel
def test_run_inplace_through_a_symlink_then_entry_files_others_can_write_are_refused(tmp_path):
    nb = make_notebook([("x = 41", "load", []), ("print(x + 1)", "report", ["load"])])
    nbformat.write(nb, tmp_path / "source.ipynb")
    real, link = linked(tmp_path, tmp_path / "source.ipynb", 0o664)
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", str(link), "--inplace"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and link.resolve() == real
    assert real.stat().st_mode & 0o777 == 0o664
    assert nbformat.read(real, 4).cells[1].outputs[0]["text"] == "42\n"

    entry = next((tmp_path / "cache" / "entries").iterdir())
    files = sorted(entry.iterdir())
    cache_env = {"CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}
    for path in files:
        for change, says in (("mode", "can be written by other users (mode 620)"),
                             ("owner", "belongs to another user (uid 54321)")):
            if change == "mode":
                path.chmod(0o620)
            elif os.geteuid() == 0:  # only root can give a file away
                os.chown(path, 54321, -1)
            else:
                continue
            for command in ("plan", "run"):  # run: the kernel plans, and refuses there
                result = CliRunner(env=cache_env).invoke(main, [command, str(link)])
                lines = [ln for ln in result.output.splitlines() if ln.strip()]
                assert result.exit_code == 1, (path.name, result.output)
                assert f"refusing to load results from cache file {path}: it {says}" \
                    in lines[-1]
                assert len(lines) == (1 if command == "plan" else 2), result.output  # ▶ target
            os.chown(path, os.geteuid(), -1) if change == "owner" else path.chmod(0o600)
            assert sorted(entry.iterdir()) == files  # refused, not deleted
    again = CliRunner(env=cache_env).invoke(main, ["plan", str(link)])
    assert again.exit_code == 0 and again.output.count("cached") >= 2
