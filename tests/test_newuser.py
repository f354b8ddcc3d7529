"""What broke when cellpipe was tried as a new user would, on real notebooks from public
repositories (their shapes rebuilt by hand here): each through the public interface."""

import json
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cellpipe.cli import main


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def cellpipe(*args, cache, cwd=None):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cellpipe", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def code_cell(cid, source, meta=None):
    return {"id": cid, "cell_type": "code", "source": source, "metadata": meta or {},
            "outputs": [], "execution_count": None}


def component(cid, name, parents, source):
    return code_cell(cid, source, {"cellpipe": {"name": name, "parents": parents}})


def nb45(cells, metadata=None):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or {}, "cells": cells}


def write(path, nb):
    path.write_text(json.dumps(nb, indent=1))
    return path


# --- nbformat 3 as files hold it: multi-line text as lists of lines, heading cells --------

def v3_notebook(second_input):
    """nbformat 3 (worksheets; code text in 'input', others in 'source'; multi-line text
    split into lists of lines, each but the last ending in a newline; 'heading' cells)."""
    return {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [
        {"metadata": {}, "cells": [
            {"cell_type": "heading", "level": 1, "metadata": {},
             "source": ["Computation on arrays"]},
            {"cell_type": "markdown", "metadata": {},
             "source": ["Loops are slow.\n", "Vectorize them."]},
            {"cell_type": "code", "language": "python", "collapsed": False, "metadata": {
                "cellpipe": {"name": "setup", "parents": []}},
             "input": ["import math\n", "values = [1, 2, 4]"], "outputs": [
                 {"output_type": "stream", "stream": "stdout", "text": ["a\n", "b\n"]}],
             "prompt_number": 1},
            {"cell_type": "code", "language": "python", "collapsed": False, "metadata": {},
             "input": second_input, "outputs": [], "prompt_number": 2},
        ]}]}


def test_an_nbformat3_file_with_split_lines_plans_exports_and_merges(tmp_path):
    path = write(tmp_path / "v3.ipynb", v3_notebook(["total = sum(values)\n", "total"]))
    planned = invoke("plan", path, "--json", env={"CELLPIPE_CACHE_DIR": str(tmp_path / "c")})
    assert planned.exit_code == 0, planned.output
    assert "upgraded from nbformat 3.0" in planned.output
    assert '"name": "setup"' in planned.output
    exported = invoke("export", path)
    assert exported.exit_code == 0, exported.output
    assert "import math\\nvalues = [1, 2, 4]" in exported.output  # lines joined, in order

    ours = write(tmp_path / "ours.ipynb", v3_notebook(["total = sum(values)  # ours\n", "total"]))
    theirs_nb = v3_notebook(["total = sum(values)\n", "total"])
    theirs_nb["worksheets"][0]["cells"][1]["source"] = ["Loops are slow.\n", "Use ufuncs."]
    theirs = write(tmp_path / "theirs.ipynb", theirs_nb)
    out = tmp_path / "merged.ipynb"
    merged = invoke("merge", path, ours, theirs, "-o", out)
    assert merged.exit_code == 0, merged.output
    cells = json.loads(out.read_text())["cells"]
    texts = ["".join(c["source"]) for c in cells]
    assert texts[0] == "# Computation on arrays"  # the heading, as nbformat upgrades it
    assert texts[1] == "Loops are slow.\nUse ufuncs."
    assert texts[3] == "total = sum(values)  # ours\ntotal"


# --- a notebook git left with conflicts is not run as if it were code ------------------------

def _conflicted(tmp_path):
    """A real merge (cellpipe merge) where both sides changed `points`; `other` is clean."""
    base = nb45([component("a", "load", [], "import random"),
                 component("b", "points", ["a"], "n = 10"),
                 component("c", "other", ["a"], "m = 1")])
    ours = json.loads(json.dumps(base))
    ours["cells"][1]["source"] = "n = 30"
    theirs = json.loads(json.dumps(base))
    theirs["cells"][1]["source"] = "n = 20"
    paths = [write(tmp_path / f"{side}.ipynb", nb)
             for side, nb in (("base", base), ("ours", ours), ("theirs", theirs))]
    result = invoke("merge", *paths, "-o", tmp_path / "nb.ipynb")
    assert result.exit_code == 1, result.output  # a conflict
    return tmp_path / "nb.ipynb"


@pytest.mark.parametrize("command", ["run", "plan"])
def test_unresolved_merge_conflicts_stop_run_and_plan(tmp_path, command):
    path = _conflicted(tmp_path)
    cache = tmp_path / "cache"
    result = invoke(command, path, env={"CELLPIPE_CACHE_DIR": str(cache)})
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and "nb.ipynb" in lines[0]
    assert "component 'points' (cell b) has an unresolved merge conflict (source)" in lines[0]
    assert "cellpipe_merge" in lines[0]  # says what to do
    assert not cache.exists()  # refused before anything started


def test_a_conflict_outside_the_targets_is_a_warning(tmp_path):
    path = _conflicted(tmp_path)
    result = invoke("plan", path, "-t", "other", env={"CELLPIPE_CACHE_DIR": str(tmp_path / "c")})
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "'points'" in result.output
    assert "run other" in result.output


def test_a_conflict_in_the_notebook_metadata_stops_the_run(tmp_path):
    params = {"version": 1, "parameters": {"k": {"type": "int", "value": 1}}}
    base = nb45([component("a", "load", [], "x = k")], {"cellpipe": params})
    sides = []
    for value in (2, 3):
        nb = json.loads(json.dumps(base))
        nb["metadata"]["cellpipe"]["parameters"]["k"]["value"] = value
        sides.append(nb)
    paths = [write(tmp_path / f"{n}.ipynb", nb)
             for n, nb in (("base", base), ("ours", sides[0]), ("theirs", sides[1]))]
    assert invoke("merge", *paths, "-o", tmp_path / "nb.ipynb").exit_code == 1
    result = invoke("run", tmp_path / "nb.ipynb", env={"CELLPIPE_CACHE_DIR": str(tmp_path / "c")})
    assert result.exit_code == 1, result.output
    assert "the notebook's metadata has an unresolved merge conflict" in result.output


# --- a kernel that dies names the component it was running ---------------------------------

@pytest.mark.kernel
def test_a_dying_kernel_names_the_component(tmp_path):
    nb = nb45([component("a", "load", [], "x = 1"),
               component("b", "crash", ["a"], "import os\nos._exit(3)")])
    path = write(tmp_path / "nb.ipynb", nb)
    done = cellpipe("run", path, "-o", tmp_path / "out.ipynb", cache=tmp_path / "cache")
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: the kernel died") and "while running 'crash'" in last, \
        done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.ipynb").exists()


# --- the `local` worker's store holds pickles: private like the cache -----------------------

def test_the_local_workers_store_is_private(tmp_path):
    env = {"CELLPIPE_CACHE_DIR": str(tmp_path / "cache"),
           "CELLPIPE_CONFIG_DIR": str(tmp_path / "config")}
    store = tmp_path / "local-worker-store"  # beside the cache dir (docs/remote.md)
    ok = invoke("workers", "ping", "local", env=env)
    assert ok.exit_code == 0, ok.output
    assert stat.S_IMODE(store.stat().st_mode) == 0o700  # created private

    store.chmod(0o777)  # e.g. a shared place anyone could have filled with pickles
    refused = invoke("workers", "ping", "local", env=env)
    assert refused.exit_code == 1, refused.output
    assert "local-worker-store" in refused.output and "other users" in refused.output

    store.chmod(0o755)  # ours and not writable by others (as older versions made it)
    assert invoke("workers", "ping", "local", env=env).exit_code == 0
    assert stat.S_IMODE(store.stat().st_mode) == 0o700


# --- small things a new user meets -----------------------------------------------------------

def test_python_dash_m_cellpipe_is_the_cellpipe_command(tmp_path):
    done = cellpipe("--help", cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "run" in done.stdout


def test_a_changed_markdown_cell_is_text_not_code(tmp_path):
    md = {"id": "m", "cell_type": "markdown", "metadata": {}, "source": "Intro"}
    old = write(tmp_path / "a.ipynb", nb45([md, code_cell("c", "x = 1")]))
    new = write(tmp_path / "b.ipynb", nb45([{**md, "source": "Introduction"},
                                            code_cell("c", "x = 2")]))
    result = invoke("diff", "--no-color", old, new)
    assert result.exit_code == 0, result.output
    assert "markdown cell (id m): text changed" in result.output
    assert "code cell (id c): code changed" in result.output


def test_importing_a_notebook_by_mistake_says_so(tmp_path, monkeypatch):
    """`cellpipe import nb.ipynb` (a notebook, not a pipeline JSON): the default output
    name is the file itself, and the message used to be that it exists."""
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "nb.ipynb", nb45([component("a", "load", [], "x = 1")]))
    before = path.read_bytes()
    result = invoke("import", "nb.ipynb")
    assert result.exit_code == 1, result.output
    assert "is a Jupyter notebook, not a pipeline JSON" in result.output
    assert "exists" not in result.output
    assert path.read_bytes() == before


def test_cache_import_into_a_cache_others_can_write_is_one_line(tmp_path):
    """A CELLPIPE_CACHE_DIR in a shared place (mode 1777): refused up front (it used to
    end in a traceback from the import's summary)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    archive = tmp_path / "results.tar.gz"
    archive.write_bytes(b"not read: the cache is refused first")
    result = invoke("cache", "import", archive, "--trust",
                    env={"CELLPIPE_CACHE_DIR": str(shared)})
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: refusing"), result.output
    assert str(shared) in lines[0] and "nothing was imported" in lines[0]
    assert list(shared.iterdir()) == []


def test_a_repeated_cell_id_is_refused_where_it_names_a_component(tmp_path):
    """Cells pasted between notebooks by hand can repeat an id; nbformat forbids it. A
    component's (or a parent's) id that two cells hold cannot be resolved: one line, exit 1.
    Plain cells only get a new id, and the note says why."""
    cells = [component("a", "load", [], "x = 1"), component("b", "train", ["a"], "y = x"),
             component("b", "report", ["b"], "print(y)")]
    path = write(tmp_path / "nb.ipynb", nb45(cells))
    result = invoke("plan", path, env={"CELLPIPE_CACHE_DIR": str(tmp_path / "c")})
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "nb.ipynb: cells 2 and 3 have the same id 'b'" in lines[0]

    plain = [component("a", "load", [], "x = 1"), code_cell("p", "1"), code_cell("p", "2")]
    path = write(tmp_path / "plain.ipynb", nb45(plain))
    result = invoke("plan", path, env={"CELLPIPE_CACHE_DIR": str(tmp_path / "c")})
    assert result.exit_code == 0, result.output
    assert "gave 1 cell(s) a new id (their id was already used by an earlier cell)" in \
        " ".join(result.output.split())
    assert "the notebook had none" not in result.output


@pytest.mark.kernel
def test_objects_shared_between_a_components_variables_stay_shared_from_the_cache(tmp_path):
    """From handson-ml2's extra_autodiff.ipynb: a component builds `x = Var(...)` and a graph
    `f` holding x, and a child asks `f.gradient(x)`, which tests `self is var`. From the
    cache, x and the x inside f are two objects and the gradient is silently 0. Reduced:"""
    make = component("a", "make", [], "x = {'v': 1}\nholder = [x]\nalias = x")
    first = component("b", "first", ["a"], "print('first', holder[0] is x, alias is x)")
    second = component("c", "second", ["a"], "print('second', holder[0] is x, alias is x)")
    path = write(tmp_path / "nb.ipynb", nb45([make, first, second]))
    cold = cellpipe("run", path, cache=tmp_path / "cache")
    assert cold.returncode == 0, cold.stderr
    assert "first True True" in cold.stdout
    assert "second True True" in cold.stdout
    # a new process: 'make' comes from the disk cache
    edited = component("c", "second", ["a"], "print('again', holder[0] is x, alias is x)")
    write(path, nb45([make, first, edited]))
    warm = cellpipe("run", path, cache=tmp_path / "cache")
    assert warm.returncode == 0, warm.stderr
    assert "again True True" in warm.stdout


@pytest.mark.kernel
def test_a_timeout_stops_the_component_and_says_so_in_one_line(tmp_path):
    """--timeout: the kernel used to be shut down while busy, and its own ZMQ traceback
    landed on stderr. Now the component is interrupted first; what finished is kept."""
    nb = nb45([component("a", "load", [], "x = 1"),
               component("b", "slow", ["a"], "import time\ntime.sleep(60)")])
    path = write(tmp_path / "nb.ipynb", nb)
    cache = tmp_path / "cache"
    done = cellpipe("run", path, "--timeout", "3", cache=cache)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "ZMQError" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: no answer from the kernel in 3 s while running 'slow'"), last
    planned = cellpipe("plan", path, "--json", cache=cache)
    steps = {s["name"]: s["action"] for s in json.loads(planned.stdout)[0]["steps"]}
    assert steps == {"load": "cache", "slow": "run"}


def test_diff_names_a_missing_file_and_a_notebook_outside_git(tmp_path, monkeypatch):
    """`cellpipe diff a.ipynb b.ipynb` with a typo used to say git's 'fatal: not a git
    repository' (the first argument was taken for a revision)."""
    monkeypatch.chdir(tmp_path)
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}  # tmp_path is in no repository
    write(tmp_path / "real.ipynb", nb45([code_cell("c", "x = 1")]))
    for args, says in [(("typo.ipynb", "real.ipynb"), "cannot read typo.ipynb"),
                       (("real.ipynb", "typo.ipynb"), "cannot read typo.ipynb"),
                       (("HEAD", "typo.ipynb"), "typo.ipynb is not in a git repository"),
                       (("typo.ipynb",), "cannot read typo.ipynb"),
                       (("real.ipynb",), "real.ipynb is not in a git repository")]:
        result = invoke("diff", *args, env=env)
        assert result.exit_code == 1, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0] and "fatal" not in lines[0], (args, lines)
    logged = invoke("log", "real.ipynb", env=env)
    assert logged.exit_code == 1 and "is not in a git repository" in logged.output


def test_a_parent_written_by_name_gets_the_id_to_write(tmp_path):
    """README: parents are cell ids. Writing the parent's name is the first thing a new user
    does by hand; the error says which id to write."""
    nb = nb45([component("c0ffee", "load", [], "x = 1"),
               component("b", "train", ["load"], "y = x")])
    path = write(tmp_path / "nb.ipynb", nb)
    result = invoke("plan", path, env={"CELLPIPE_CACHE_DIR": str(tmp_path / "c")})
    assert result.exit_code == 1, result.output
    assert "parents are cell ids, not names; write 'c0ffee'" in " ".join(result.output.split())


@pytest.mark.kernel
def test_the_magic_without_a_command_or_with_an_open_quote_is_one_line(tmp_path):
    """`%cellpipe` alone said 'the following arguments are required: command, name' (status
    takes no name); an unclosed quote was a Python traceback through cellpipe's frames."""
    from cellpipe.cli.kernel_driver import PipelineKernel

    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}
    with PipelineKernel(cwd=str(tmp_path), env=env, timeout=60) as kernel:
        for line, says in (("%cellpipe", "say what to do: run, plan or status"),
                           ('%cellpipe run "train', "cannot read the arguments: No closing")):
            done = kernel.execute(line)
            assert done.status == "error", line
            error = done.error
            assert error["ename"] == "PipelineError" and error["evalue"].startswith(says)
            assert len(error["traceback"]) == 1  # one line, no frames
