"""Issue 20 items 3 and 7 through the CLI: names from a shared notebook never reach the terminal
raw (escapes, newlines, rich markup), and hostile JSON is one line naming the field."""

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main
from cellpipe.gitnb.driver import main as git_driver

EVIL = "\x1b[2J[red]load\ndone  forged\u202e"
SHOWN = "\\x1b[2J[red]load\\ndone  forged\\u202e"  # how every command prints it
ALIAS = "\x1b[31mgpu"


def cli(*args, env=None):
    return CliRunner(env=env).invoke(main, [str(a) for a in args])


def assert_escaped(text, alias=False):
    assert "\x1b" not in text and "\u202e" not in text, repr(text)
    assert SHOWN in text, text
    assert "\ndone  forged" not in text
    if alias:
        assert "\\x1b[31mgpu" in text, text


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    """plain.ipynb (load -> fit) and evil.ipynb (load renamed EVIL, fit on worker ALIAS)."""
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "400")  # rich tables: no wrapping inside a name
    nb = make_notebook([("x = 1\nprint('loaded')", "load", []), ("y = x + 1", "fit", ["load"])])
    nbformat.write(nb, tmp_path / "plain.ipynb")
    nb.cells[0].metadata["cellpipe"]["name"] = EVIL
    nb.cells[1].metadata["cellpipe"]["worker"] = ALIAS
    nbformat.write(nb, tmp_path / "evil.ipynb")
    return tmp_path


def test_names_are_escaped_in_plan_diff_textconv_and_log(notebooks, capsys):
    plain, evil = notebooks / "plain.ipynb", notebooks / "evil.ipynb"
    plan = cli("plan", evil)
    assert plan.exit_code == 0, plan.output
    assert_escaped(plan.output, alias=True)
    assert "[red]" in plan.output  # markup shown as written, not interpreted
    diff = cli("diff", plain, evil, "--color")
    assert diff.exit_code == 0, diff.output
    assert_escaped(diff.output.replace("\x1b[", "").replace("\\x1b[", "\\x1b["))
    assert git_driver(["textconv", str(evil)]) == 0
    assert_escaped(capsys.readouterr().out, alias=True)
    git = ["git", "-C", str(notebooks), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    for source in (plain, evil):
        (notebooks / "nb.ipynb").write_bytes(source.read_bytes())
        subprocess.run([*git, "add", "nb.ipynb"], check=True)
        subprocess.run([*git, "commit", "-qm", f"{EVIL} {source.name}"], check=True)
    log = cli("log", notebooks / "nb.ipynb", "--no-color")  # commit subjects too
    assert log.exit_code == 0, log.output
    assert "\x1b" not in log.output and "\u202e" not in log.output
    assert "t: \\x1b[2J[red]load done  forged\\u202e" in log.output  # git joined the lines


@pytest.mark.kernel
def test_run_and_cache_ls_print_names_escaped(notebooks):
    nb = nbformat.read(notebooks / "evil.ipynb", 4)
    del nb.cells[1].metadata["cellpipe"]["worker"]  # runs in the kernel
    nbformat.write(nb, notebooks / "evil.ipynb")
    run = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run",
                          str(notebooks / "evil.ipynb")], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "400"}, timeout=300)
    assert run.returncode == 0, run.stderr
    assert_escaped(run.stderr)
    assert f"done  {SHOWN}" in run.stderr
    listing = cli("cache", "ls")
    assert listing.exit_code == 0
    assert "\x1b" not in listing.output and "\\x1b[2J[red]load" in listing.output


def test_an_error_message_holding_a_name_is_escaped(notebooks):
    result = cli("run", notebooks / "evil.ipynb", "--target", "fit")  # unregistered alias
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\\x1b[31mgpu" in result.output


# --- item 7: hostile JSON -----------------------------------------------------------------

HUGE = "7" * 5000


def _hostile_notebooks(tmp_path):
    text = nbformat.writes(make_notebook([("x = 1", "load", [])]))
    huge = text.replace('"metadata": {', f'"metadata": {{"big": {HUGE}, ', 1)
    deep = text.replace('"metadata": {', '"metadata": {"deep": ' + "[" * 5000 + "]" * 5000
                        + ", ", 1)
    nested = text.replace('"metadata": {', '"metadata": {"deep": ' + "[" * 500 + "]" * 500
                          + ", ", 1)
    paths = {}
    for name, content in (("huge", huge), ("deep", deep), ("nested", nested), ("ok", text)):
        paths[name] = tmp_path / f"{name}.ipynb"
        paths[name].write_text(content)
    return paths


HOSTILE_NB = {
    "huge": "cells[0].metadata.big: an integer of 5000 digits",
    "deep": "JSON nested too deeply",
    "nested": "cells[0].metadata.deep[0][0][0][0]...: nested more than 100 levels deep",
}


@pytest.mark.parametrize("case", list(HOSTILE_NB))
def test_hostile_notebook_json_is_one_line_in_every_command(tmp_path, monkeypatch, case):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "cache"))
    paths = _hostile_notebooks(tmp_path)
    bad, ok = paths[case], paths["ok"]
    commands = [("plan", bad), ("run", bad), ("export", bad), ("convert", bad, "-o",
                tmp_path / "c.ipynb"), ("cache", "export", bad, "-o", tmp_path / "a.tar.gz"),
                ("diff", ok, bad), ("diff", bad, ok), ("import", tmp_path / "p.json", "--into",
                                                       bad)]
    (tmp_path / "p.json").write_text(json.dumps({"format": "cellpipe.pipeline", "version": 1,
                                                 "parameters": {}, "components": []}))
    for args in commands:
        result = cli(*args)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 1 and len(lines) == 1, (args, result.output)
        assert HOSTILE_NB[case] in lines[0] and str(bad) in lines[0], (args, lines)
    assert not (tmp_path / "c.ipynb").exists() and not (tmp_path / "a.tar.gz").exists()


def _pipeline(**params):
    return {"format": "cellpipe.pipeline", "version": 1, "parameters": params,
            "components": [{"id": "a", "name": "load", "code": "x = 1", "parents": []}]}


HOSTILE_PIPELINES = {
    "NaN": (json.dumps(_pipeline(lr={"type": "float", "value": 1.0})).replace("1.0", "NaN"),
            "parameters.lr.value: NaN, which is not a JSON number"),
    "-Infinity": (json.dumps(_pipeline(lr={"type": "float", "value": 1.0}))
                  .replace("1.0", "-Infinity"), "parameters.lr.value: -Infinity"),
    "float overflow": (json.dumps(_pipeline(lr={"type": "float", "value": 1.0}))
                       .replace("1.0", "1e999"), "parameters.lr.value: a number too large"),
    "huge integer": (json.dumps(_pipeline(n={"type": "int", "value": 1})).replace(
        '"value": 1', f'"value": {HUGE}'), "parameters.n.value: an integer of 5000 digits"),
    "deep": ('{"format": "cellpipe.pipeline", "x": ' + "[" * 100000 + "]" * 100000 + "}",
             "JSON nested too deeply"),
    "nested": (json.dumps(_pipeline(j={"type": "json", "value": 1})).replace(
        '"value": 1', '"value": ' + "[" * 150 + "]" * 150),
        "parameters.j.value[0][0][0]"),
    "int as text": (json.dumps(_pipeline(n={"type": "int", "value": "5"})),
                    "parameters.n.value: parameter 'n' expects int, and the file gives a string"),
    "bool as int": (json.dumps(_pipeline(n={"type": "int", "value": True})),
                    "parameters.n.value: parameter 'n' expects int, and the file gives true"),
    "str as number": (json.dumps(_pipeline(s={"type": "str", "value": 3})),
                      "parameters.s.value: parameter 's' expects str"),
    "bad alias": (json.dumps(_pipeline()).replace('"parents": []',
                                                  '"parents": [], "worker": "\\u001b[2Jgpu box"'),
                  "components[0].worker: '\\x1b[2Jgpu box' does not match"),
    "duplicate key": (json.dumps(_pipeline()).replace('"name": "load"',
                                                      '"name": "load", "name": "fit"'),
                      "components[0].name: the key 'name' appears twice in one object"),
}


@pytest.mark.parametrize("case", list(HOSTILE_PIPELINES))
def test_hostile_pipeline_json_is_refused_naming_the_field(tmp_path, case):
    text, says = HOSTILE_PIPELINES[case]
    path = tmp_path / "p.json"
    path.write_text(text)
    result = cli("import", path, "-o", tmp_path / "out.ipynb")
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert f"{path}: " in lines[0] and says in lines[0], lines[0]
    assert "\x1b" not in result.output
    assert not (tmp_path / "out.ipynb").exists()


@pytest.mark.kernel
def test_ctrl_c_on_run_exits_130_in_one_line(tmp_path):
    nb = make_notebook([("import time\nprint('started', flush=True)\ntime.sleep(120)", "slow",
                         [])])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}
    # a terminal's Ctrl-C: SIGINT to the command's whole process group
    proc = subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", "nb.ipynb"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline() == "started\n"
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 30
    assert "Traceback" not in err and "ZMQError" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted"
