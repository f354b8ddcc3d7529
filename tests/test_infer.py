"""Inferred pipelines (model/analysis.py, model/infer.py): who depends on whom, and why.

Every cell below is named by its leading comment; `ancestry` answers with names. The
hazards are the ones the real notebooks in tests/fixtures/real have (see the README there).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cellpipe.model import dag, read_notebook
from cellpipe.model.analysis import analyse
from cellpipe.model.infer import Cell, check_edges, infer, infer_notebook

REAL = Path(__file__).parent / "fixtures" / "real"


def run_infer(*sources: str, markdown: dict[int, str] | None = None):
    cells = []
    for i, src in enumerate(sources):
        if markdown and i in markdown:
            cells.append(Cell(f"md{i}", "markdown", markdown[i]))
        cells.append(Cell(f"c{i}", "code", src))
    return infer(cells)


def parents(*sources: str) -> dict[str, set[str]]:
    """name -> names of its parents."""
    inf = run_infer(*sources)
    return {inf.names[c]: {inf.names[p] for p in ps} for c, ps in inf.parents.items()}


def ancestry(*sources: str) -> dict[str, set[str]]:
    """name -> names of its ancestors."""
    inf = run_infer(*sources)
    return {inf.names[c]: {inf.names[a] for a in dag.ancestors(inf.parents, c)}
            for c in inf.parents}


# --- names read, bound and changed ---------------------------------------------------------
def test_every_assignment_form_binds():
    a = analyse("a = 1\nb, (c, *d) = f()\ne += 1\n(g := 2)\nfor h in x: pass\n"
                "with open('p') as i: pass\ntry:\n    pass\nexcept E as j:\n    pass\n"
                "del k\nimport m.n as o\nfrom p import q\ndef r(): pass\nclass S: pass\n"
                "t: int = 3")
    assert {"a", "b", "c", "d", "e", "g", "h", "i", "j", "k", "o", "q", "r", "S", "t"} <= a.binds
    assert {"f", "x", "e", "k", "E"} <= a.reads
    assert "a" not in a.reads


def test_in_place_changes_are_changes():
    a = analyse("df['y'] = 1\nobj.attr = 2\nlst.append(3)\nd2.drop(columns=['a'], inplace=True)\n"
                "arr[0] += 1\nsrc.head()\nmodel.fit(X, y)")
    assert {"df", "obj", "lst", "d2", "arr", "model"} <= a.mutates
    assert "src" not in a.mutates  # head() leaves it as it is
    assert {"df", "obj", "lst", "d2", "arr", "src", "X", "y"} <= a.reads


def test_names_bound_before_read_and_builtins_are_no_reads():
    a = analyse("import numpy as np\nx = np.arange(3)\nprint(len(x), x)\n"
                "[v for v in x]\nlambda q: q + x")
    assert a.reads == frozenset()


def test_reads_in_function_bodies_happen_when_called():
    # tools_numpy / 04_training_linear_models: helpers defined early read globals later
    p = parents("# images\nIMAGES_PATH = 'x'",
                "# save_fig\ndef save_fig(name):\n    return IMAGES_PATH + name",
                "# images changed\nIMAGES_PATH = 'y'",
                "# plot\nsave_fig('a')")
    assert p["save_fig"] == set()  # defining it reads nothing yet
    assert p["plot"] == {"save_fig", "images changed"}


def test_function_that_changes_a_global_or_its_argument():
    p = parents("# log\nlog = []",
                "# record\ndef record(x):\n    log.append(x)\n"
                "def bump():\n    global count\n    count += 1\n"
                "def scale(frame):\n    frame['z'] = 0",
                "# count\ncount = 0",
                "# df\ndf = make()",
                "# use\nrecord(1)\nbump()\nscale(df)",
                "# show log\nprint(log, count)",
                "# show df\ndf")
    assert p["use"] == {"record", "log", "count", "df"}
    assert p["show log"] == {"use"}
    assert p["show df"] == {"use"}


def test_iterators_are_consumed_by_their_readers():
    # WhirlwindTourOfPython 10-Iterators: `I = iter(L)` then print(next(I)) in three cells
    anc = ancestry("# it\nI = iter([2, 4, 6])", "# a\nprint(next(I))", "# b\nprint(next(I))",
                   "# gen\ndef evens():\n    yield 2\n    yield 4\nG = evens()",
                   "# c\nfor x in G:\n    print(x)", "# d\nprint(list(G))",
                   "# lst\nL = [1]", "# e\nfor y in L:\n    print(y)", "# f\nprint(L)")
    assert anc["b"] == {"it", "a"}
    assert anc["d"] == {"gen", "c"}
    assert anc["f"] == {"lst"}  # a list read in a loop is not consumed


def test_aliases_share_changes():
    # titanic-style: `for dataset in combine: dataset['x'] = ...` changes train and test
    p = parents("# load\ntrain = a()\ntest = b()",
                "# combine\ncombine = [train, test]",
                "# titles\nfor dataset in combine:\n    dataset['Title'] = 1",
                "# show\ntrain.head()")
    assert "titles" in p["show"]


def test_parts_of_one_result_share_changes():
    # matplotlib: the figure holds the axes another cell draws on
    anc = ancestry("# setup\nimport matplotlib.pyplot as plt\nimport numpy as np",
                   "# subplots\nfig, ax = plt.subplots()",
                   "# draw\nax.plot([1, 2])",
                   "# show\nfig",
                   "# arrays\nx = np.arange(3)\ny = np.zeros(3)",
                   "# change x\nx[0] = 5",
                   "# show y\ny")
    assert "draw" in anc["show"]
    assert anc["show y"] == {"setup", "arrays"}  # np.* results are no aliases of np


def test_parents_are_the_last_binder():
    p = parents("# a\nx = 1", "# b\nx = 2", "# c\nprint(x)", "# d\nx = x + 1", "# e\nx")
    assert p["c"] == {"b"}
    assert p["d"] == {"b"}
    assert p["e"] == {"d"}


def test_conditional_binding_keeps_the_earlier_one():
    anc = ancestry("# a\nx = 1", "# b\nif flag():\n    x = 2", "# c\nprint(x)")
    assert anc["c"] == {"a", "b"}


def test_a_rebinding_is_no_dependency_and_siblings_stay_apart():
    anc = ancestry("# load\ndf = dict(a=1)", "# mean\ndf.mean()", "# std\ndf.std()",
                   "# other\ndf = dict(b=2)", "# head\ndf.head()")
    assert anc["mean"] == anc["std"] == {"load"}
    assert anc["head"] == {"other"}


# --- IPython: magics, shell lines, history -------------------------------------------------
def test_magics_and_shell_lines():
    p = parents("# setup\n%matplotlib inline\nimport numpy as np",
                "# data\nx = np.arange(10)",
                "# timing\n%timeit x.sum()",
                "%%time\ny = x * 2",
                "# shell\n!echo {y}",
                "# stored\n%store y",
                "# autocall\n/print y")
    assert p["timing"] == {"setup", "data"}
    assert p["y"] == {"setup", "data"}
    assert "y" in p["shell"]
    assert "y" in p["stored"]
    assert "y" in p["autocall"]


def test_previous_result_reads_the_previous_cell():
    inf = run_infer("# a\n1 + 1", "# b\nz = 3", "# c\n_ * 2")
    assert inf.parents["c2"] == ("c1",)
    assert any("IPython's last result" in n for n in inf.notes)  # a pipeline cannot keep it


def test_a_cell_that_does_not_parse_depends_on_nothing():
    p = parents("# a\nx = 1", "# broken\nx = = 2", "# b\nprint(x)")
    assert p["broken"] == set()
    assert p["b"] == {"a"}


# --- hidden state --------------------------------------------------------------------------
def test_seeded_global_random_generator_keeps_its_sequence():
    # 04_training_linear_models: np.random.seed(42) in setup, np.random.rand in many cells
    anc = ancestry("# setup\nimport numpy as np\nnp.random.seed(42)\n"
                   "from sklearn.model_selection import train_test_split\n"
                   "from sklearn.tree import DecisionTreeClassifier\n"
                   "from sklearn.linear_model import LinearRegression",
                   "# first\nX = np.random.rand(3)",
                   "# unrelated\nk = 5",
                   "# second\nY = np.random.randn(2)",
                   "# split\na, b = train_test_split(X)",
                   "# fixed split\nc, d = train_test_split(X, random_state=0)",
                   "# tree\ntree = DecisionTreeClassifier()",
                   "# fit tree\ntree.fit(X, X)",
                   "# lin\nlin = LinearRegression()\nlin.fit(X, X)")
    assert anc["second"] == {"setup", "first"}
    assert {"second", "first"} <= anc["split"]
    assert "second" not in anc["fixed split"]
    assert "split" in anc["fit tree"]  # a tree without random_state draws from it
    assert "fit tree" not in anc["lin"]  # LinearRegression does not


def test_rng_object_advances_in_order():
    anc = ancestry("# rng\nrng = np.random.default_rng(0)", "# a\nx = rng.normal()",
                   "# b\ny = rng.integers(3)")
    assert anc["b"] == {"rng", "a"}


def test_settings_are_seen_by_every_later_cell():
    # pd.options, warnings, sys.path, matplotlib rcParams / style, os.chdir
    sources = ["# imports\nimport os, sys, warnings\nimport pandas as pd\n"
               "import matplotlib.pyplot as plt\nimport matplotlib as mpl",
               "# data\ndf = pd.DataFrame({'a': [1]})"]
    for setting in ("pd.options.display.max_rows = 5", "pd.set_option('display.width', 9)",
                    "warnings.filterwarnings('ignore')", "sys.path.append('lib')",
                    "plt.rcParams['figure.figsize'] = (3, 3)", "plt.style.use('ggplot')",
                    "mpl.rc('font', size=12)", "os.chdir('/tmp')", "%config InlineBackend.x = 1",
                    "%precision 3"):
        p = parents(*sources, f"# setting\n{setting}", "# show\ndf")
        assert "setting" in p["show"], setting


def test_matplotlib_figures_stay_within_their_cell():
    # the inline backend closes the current figure at the end of each cell
    p = parents("# setup\nimport matplotlib.pyplot as plt", "# x\nx = [1, 2]",
                "# line\nplt.plot(x)", "# scatter\nplt.scatter(x, x)\nplt.title('t')")
    assert p["scatter"] == {"setup", "x"}
    assert "line" not in p["scatter"]


def test_files_written_then_read():
    # tools_pandas: my_df.to_csv("my_df.csv") then pd.read_csv("my_df.csv")
    p = parents("# setup\nimport pandas as pd\ndf = pd.DataFrame({'a': [1]})",
                "# write\ndf.to_csv('my_df.csv')",
                "# other file\nwith open('notes.txt', 'w') as f:\n    f.write('x')",
                "# read\nagain = pd.read_csv('my_df.csv')",
                "# read notes\nprint(open('notes.txt').read())",
                "# shell\n!ls",
                "# after shell\nprint(open('notes.txt').read())")
    assert "write" in p["read"] and "other file" not in p["read"]
    assert "other file" in p["read notes"]
    assert "shell" in p["after shell"]


def test_star_imports_bind_what_no_one_else_does():
    p = parents("# star\nfrom math import *", "# own\nx = 2", "# use\nprint(sqrt(x))",
                # WhirlwindTourOfPython 13: `from numpy import *` shadows the builtin sum
                "# shadow\nprint(sum(range(5), -1))")
    assert p["use"] == {"star", "own"}
    assert p["shadow"] == {"star"}


def test_exec_eval_and_globals_read_everything():
    anc = ancestry("# a\nx = 1", "# b\ny = 2", "# c\nz = 3", "# dyn\nprint(eval('x + y'))",
                   "# g\nglobals()['w'] = 4", "# w\nprint(w)")
    assert anc["dyn"] == {"a", "b", "c"}
    assert "g" in anc["w"]


def test_notes_say_why_edges_are_conservative():
    inf = run_infer("# a\nexec('q = 1')", "# b\nprint(q)")
    assert any("exec()" in n for n in inf.notes)
    assert inf.edges and all(e.reason for e in inf.edges)


# --- names ---------------------------------------------------------------------------------
def test_names_are_readable_and_unique():
    inf = run_infer("# Load the data\ndf = 1", "x = 2\ny = 3", "df.head()", "import os",
                    "x = 4\ny = 5", "z = 1", markdown={5: "## Train the *model*"})
    names = list(inf.names.values())
    assert names == ["Load the data", "x, y", "df.head()", "imports", "x, y (2)",
                     "Train the model"]


# --- checking drawn edges ------------------------------------------------------------------
def comps(*specs):
    """(id, code, parents) -> (id, name, code, parents) with name == id."""
    return [(cid, cid, code, ps) for cid, code, ps in specs]


def test_check_warns_when_the_binder_is_no_ancestor():
    check = check_edges(comps(("split", "X_train = load()", []),
                              ("train", "model = fit(X_train)", [])))
    [w] = check.warnings
    assert w.message == ("'train' reads X_train, bound by 'split', which is not an ancestor "
                         "of 'train' (add it as a parent?)")
    assert w.as_json()["fix"] == {"child": "train", "add_parents": ["split"]}


def test_check_no_false_alarms():
    check = check_edges(comps(
        ("load", "import pandas as pd\ndf = pd.read_csv('a')\nlr = 0.1", []),
        ("other", "df = 2\nlr = 3", []),
        ("clean", "df['x'] = 1", ["load"]),
        # builtins, a parameter, an import in the cell, a name bound before it is read
        ("train", "import numpy as np\nw = np.zeros(3)\nprint(len(w), w, lr, alpha)\n"
                  "df.head()\nfor i in range(3):\n    print(i)", ["clean"]),
        ("loop", "for i in range(2):\n    pass", []),
    ), parameters=["alpha"])
    assert check.warnings == []
    assert check.edge_names[("load", "clean")] == ("df",)


def test_check_through_a_function_called_later():
    check = check_edges(comps(("data", "X = 1", []), ("helper", "def f():\n    return X", []),
                              ("use", "f()", ["helper"])))
    assert [w.reads for w in check.warnings] == ["X"]


# --- whole notebooks -----------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(REAL.glob("*.ipynb")), ids=lambda p: p.stem)
def test_real_notebooks_infer_quickly_with_readable_names(path):
    nb, _ = read_notebook(path)
    inf = infer_notebook(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(inf.names) == len(code) and len(set(inf.names.values())) == len(code)
    assert not any(n.lower().startswith("step") for n in inf.names.values())
    assert dag.find_cycle(inf.parents) is None


def test_150_cells_convert_well_under_a_second():
    nb, _ = read_notebook(REAL / "handson-ml2_tools_pandas.ipynb")
    infer_notebook(nb)  # imports (IPython's transformer) happen once per process
    from cellpipe.model import analysis, code
    for cached in (code.transform, code.parse, analysis.analyse):
        cached.cache_clear()
    start = time.perf_counter()
    inf = infer_notebook(nb)
    took = time.perf_counter() - start
    assert len(inf.names) >= 150
    assert took < 0.8, took
