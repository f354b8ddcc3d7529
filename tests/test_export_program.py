"""`cellpipe export --format py`: a standalone program that runs as `cellpipe run` does."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main
from cellpipe.model.program import indent, top_level_bindings

DEMO = Path(__file__).parent.parent / "examples" / "demo.ipynb"


def export(*args):
    return CliRunner().invoke(main, ["export", *map(str, args)], catch_exceptions=False)


def cellpipe_run(notebook, *args, cache):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", str(notebook), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def program(path, *args, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPIPE")}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, str(path), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)


def imports_of(source):
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "").split(".")[0])
    return found


def branching_nb():
    """load -> {widen (adds a column in place), alone (reads the frame)}; widen and a
    counting branch join in report. A shared list is changed in place by two branches."""
    return make_notebook([
        ("import pandas as pd\n"
         "df = pd.DataFrame({'x': range(rows)})\nlog = ['load']\nprint('loaded', len(df))",
         "load", []),
        ("df['y'] = df['x'] * scale  # in place\nlog.append('widen')\n"
         "print('widen sees', list(df.columns))", "widen", ["load"]),
        ("total = int(df['x'].sum())\nlog.append('count')\n"
         "print('count sees', list(df.columns), log)", "count", ["load"]),
        ("print('alone sees', list(df.columns), log)\ndf.shape", "alone", ["load"]),
        ("print('report', list(df.columns), int(df['y'].sum()), total, log)\ndf.tail(2)",
         "report", ["widen", "count"]),
    ], parameters={"scale": {"type": "int", "value": 2}, "rows": {"type": "int", "value": 5}})


@pytest.mark.kernel
@pytest.mark.parametrize("case", ["demo", "branching"])
def test_the_program_prints_what_cellpipe_run_shows_for_every_sink(tmp_path, case):
    if case == "demo":
        notebook, sinks, override = DEMO, ["compare"], ("n_rows", "300")
    else:
        notebook = tmp_path / "branching.ipynb"
        nbformat.write(branching_nb(), notebook)
        sinks, override = ["alone", "report"], ("scale", "3")
    out = tmp_path / "pipeline.py"
    result = export(notebook, "--format", "py", "-o", out)
    assert result.exit_code == 0, result.output
    source = out.read_text()
    assert "cellpipe" not in imports_of(source)
    name, value = override
    for sink in sinks:
        ran = cellpipe_run(notebook, "-t", sink, "-p", f"{name}={value}", cache=tmp_path / "c")
        assert ran.returncode == 0, ran.stderr
        exported = program(out, "--target", sink, f"--{name}", value, cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout == ran.stdout
        assert exported.stdout.strip()
    if case == "branching":  # what the branches saw, spelled out
        alone = program(out, "-t", "alone", cwd=tmp_path).stdout
        assert alone.startswith("alone sees ['x'] ['load']\n")
        report = program(out, "--scale", "3", cwd=tmp_path).stdout  # every sink
        assert "report ['x', 'y'] 30 10 ['load', 'count']" in report
        assert "alone sees ['x'] ['load']" in report


def test_help_lists_the_parameters_with_types_and_defaults(tmp_path):
    nb = make_notebook([("print(lr, epochs, name, verbose, sizes)", "train", [])], parameters={
        "lr": {"type": "float", "value": 0.1}, "epochs": {"type": "int", "value": 3},
        "name": {"type": "str", "value": "run"}, "verbose": {"type": "bool", "value": False},
        "sizes": {"type": "json", "value": [1, 2]}})
    nbformat.write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "p.py"
    assert export(tmp_path / "nb.ipynb", "--format", "py", "-o", out, "-p", "epochs=5").exit_code == 0
    helped = program(out, "--help").stdout
    for line in ("--lr FLOAT", "(float, default: 0.1)", "--epochs INT", "(int, default: 5)",
                 "--name STR", "(str, default: 'run')", "--verbose BOOL",
                 "(bool, default: False)", "--sizes JSON", "(json, default: [1, 2])"):
        assert line in helped, line
    ran = program(out, "--lr", "0.5", "--verbose", "true", "--sizes", "[3]", "--name", "x")
    assert ran.stdout == "0.5 5 x True [3]\n", ran.stderr
    bad = program(out, "--epochs", "many")
    assert bad.returncode == 2 and "invalid int value: 'many'" in bad.stderr


def test_an_error_shows_the_users_traceback_and_exits_1(tmp_path):
    nb = make_notebook([
        ("def ratio(a, b):\n    return a / b\nx = 1", "setup", []),
        ("print('before')\ny = ratio(x, 0)", "divide", ["setup"]),
    ])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "p.py"
    export(tmp_path / "nb.ipynb", "--format", "py", "-o", out)
    ran = program(out)
    assert ran.returncode == 1
    assert ran.stdout == "before\n"
    err = ran.stderr
    assert "error in component 'divide':" in err
    assert "Traceback (most recent call last):" in err
    assert "y = ratio(x, 0)" in err and "return a / b" in err
    assert err.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_run_step" not in err and "main(" not in err  # the runner's frames are not shown


def test_magics_a_program_cannot_run_are_refused_session_magics_dropped(tmp_path):
    ok = make_notebook([("%matplotlib inline\nx = 2\nx * 3", "a", [])])
    nbformat.write(ok, tmp_path / "ok.ipynb")
    out = tmp_path / "ok.py"
    assert export(tmp_path / "ok.ipynb", "--format", "py", "-o", out).exit_code == 0
    assert "    # %matplotlib inline  (notebook-only magic: dropped by the export)" in out.read_text()
    assert program(out).stdout == "6\n"
    for code, what in [("x = 1\n!ls data", "'!ls data' is an IPython shell command"),
                       ("%pip install foo", "'%pip install foo' is an IPython magic (%pip)"),
                       ("%%time\nx = 1", "IPython cell magic"),
                       ("from os import *", "'from os import *' cannot be exported")]:
        nbformat.write(make_notebook([(code, "a", [])]), tmp_path / "bad.ipynb")
        result = export(tmp_path / "bad.ipynb", "--format", "py", "-o", tmp_path / "bad.py")
        assert result.exit_code == 1
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "cannot export component 'a'" in lines[0], result.output
        assert what in lines[0]
        assert not (tmp_path / "bad.py").exists()


@pytest.mark.parametrize("broken, message", [
    ([("x = 1", "a", ["b"]), ("y = 2", "b", ["a"]), ("z = 3", "c", ["a"])],
     "the pipeline has a cycle: a -> b -> a"),
    ([("x = 1", "a", ["gone"])], "which is not a component"),
])
def test_a_broken_pipeline_is_refused_in_one_line_and_nothing_written(tmp_path, broken,
                                                                       message):
    nbformat.write(make_notebook(broken), tmp_path / "nb.ipynb")
    result = export(tmp_path / "nb.ipynb", "--format", "py", "-o", tmp_path / "p.py")
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "p.py").exists()


def test_an_unknown_parameter_is_refused(tmp_path):
    nbformat.write(make_notebook([("x = 1", "a", [])]), tmp_path / "nb.ipynb")
    result = export(tmp_path / "nb.ipynb", "--format", "py", "-o", tmp_path / "p.py",
                    "-p", "nope=1")
    assert result.exit_code == 1 and "unknown parameter 'nope'" in result.output
    assert not (tmp_path / "p.py").exists()


def test_a_parameter_named_like_an_option_of_the_program_is_refused(tmp_path):
    nb = make_notebook([("x = target", "a", [])],
                       parameters={"target": {"type": "str", "value": "t"}})
    nbformat.write(nb, tmp_path / "nb.ipynb")
    result = export(tmp_path / "nb.ipynb", "--format", "py", "-o", tmp_path / "p.py")
    assert result.exit_code == 1 and "parameter 'target' would be the program's own --target" \
        in result.output
    assert not (tmp_path / "p.py").exists()


def test_json_stays_the_default_format(tmp_path):
    nbformat.write(make_notebook([("x = 1", "a", [])]), tmp_path / "nb.ipynb")
    result = export(tmp_path / "nb.ipynb")
    assert result.exit_code == 0 and '"format": "cellpipe.pipeline"' in result.output
    result = export(tmp_path / "nb.ipynb", "-p", "x=1")
    assert result.exit_code == 2 and "options of --format py and kfp" in result.output


def test_code_that_only_a_module_scope_allows_still_runs_as_written(tmp_path):
    code = ('text = """first\nsecond"""\n'  # a multi-line string keeps its lines
            "counter: int = 0\n"
            "def bump():\n    global counter\n    counter += 1\n"
            "class Box:\n    pass\n"
            "[last := n for n in range(3)]\n"
            "import pickle\nbox = pickle.loads(pickle.dumps(Box()))\n"
            "bump(); bump()")
    nb = make_notebook([(code, "a", []),
                        ("print(repr(text), counter, last, type(box).__name__)\n"
                         "del text\nprint('text' in dir(), 'box' in locals(), len(vars()) > 3)",
                         "b", ["a"]),
                        ("print('text' in dir())", "c", ["b"])])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "p.py"
    assert export(tmp_path / "nb.ipynb", "--format", "py", "-o", out).exit_code == 0
    ran = program(out, "-t", "b", "-t", "c")
    assert ran.stdout == "'first\\nsecond' 2 2 Box\nFalse True True\nFalse\n", ran.stderr


def test_top_level_bindings_and_indent():
    tree = ast.parse("import a.b as c, d.e\nfor i in x: pass\n[j for j in y]\n"
                     "[(k := 1) for _ in z]\ndef f(q=(w := 2)):\n    inner = 1\n"
                     "try:\n    pass\nexcept E as err:\n    del gone\n")
    assert top_level_bindings(tree) == {"c", "d", "i", "k", "f", "w", "err", "gone"}
    assert indent("x = '''a\nb'''\nif x:\n    y = 1\n\n") == "    x = '''a\nb'''\n    if x:\n        y = 1\n"


def test_objects_held_by_other_names_keep_the_rule(tmp_path):
    """DESIGN §4 on shared objects, by hand: c changes `data` through `holder` only; its
    descendant sees the change under both names, its sibling d (running later) under none."""
    nb = make_notebook([
        ("data = {'v': 1}", "a", []),
        ("holder = [data]", "b", ["a"]),
        ("holder[0]['v'] = 99\nprint('c', holder[0]['v'])", "c", ["b"]),
        ("print('d', data['v'])", "d", ["a"]),
        ("print('e', data['v'], holder[0] is data)", "e", ["c"]),
    ])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "p.py"
    assert export(tmp_path / "nb.ipynb", "--format", "py", "-o", out).exit_code == 0
    ran = program(out, "-t", "c", "-t", "d", "-t", "e")
    assert ran.stdout == "c 99\nd 1\ne 99 True\n", ran.stderr


def test_chosen_components_bring_their_ancestors(tmp_path):
    nbformat.write(branching_nb(), tmp_path / "nb.ipynb")
    out = tmp_path / "p.py"
    assert export(tmp_path / "nb.ipynb", "--format", "py", "-c", "widen", "-o", out).exit_code == 0
    source = out.read_text()
    assert "SINKS = ['widen']" in source and "def load():" in source
    assert "def count():" not in source
    assert program(out, "--rows", "2").stdout == "widen sees ['x', 'y']\n"
