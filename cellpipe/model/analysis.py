"""What one cell's code reads, binds and changes: static analysis for inferred pipelines.

A pure function of the code (after IPython's input transforms, `model/code.py`). It errs
on the side of "depends": a name that may be read counts as read, an object that a method
call may change counts as changed, and what no static analysis can see (global random
generators, plotting and display settings, files, `exec`) is reported as hidden state so
that `model/infer.py` can order every cell that touches it.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from cellpipe.model.code import parse, transform

# names the IPython namespace provides without an import
IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit", "_ih", "_oh",
                           "_dh", "_i", "_ii", "_iii", "__builtin__", "__builtins__",
                           "__name__", "__doc__", "__file__", "__spec__", "__loader__",
                           "__package__"})
BUILTIN_NAMES = frozenset(dir(builtins)) | IPYTHON_NAMES
# previous results: `_`, `__`, `___`, `_5`, `_i5`: the cells before, in notebook order
_OUTPUT_HISTORY = frozenset({"_", "__", "___", "Out", "In", "_oh", "_ih", "_i", "_ii", "_iii"})

# hidden state (see infer.py for who depends on what)
SETTINGS = "settings"  # display/plot/warning options, working directory, sys.path, installs
RNG = "rng"  # numpy's and random's global generators
RNG_SEED = "rng:seed"  # a function that seeds it (the cell calling it seeds it)
FILES = "file:*"  # a file whose name is not a literal (or a shell command)

# methods that return a new object or a view and leave the receiver as it is; any other
# method call on a name may change it in place (lst.append, model.fit, df.drop(inplace=True))
PURE_METHODS = frozenset("""
head tail describe info copy count sum mean median mode std var min max
idxmin idxmax argmin argmax argsort abs round cumsum cumprod prod quantile corr cov
nunique unique value_counts isnull isna notnull notna any all astype to_numpy tolist
to_list to_dict to_string to_frame to_records to_markdown to_html to_latex items keys
values get groupby agg aggregate apply applymap map filter query where
mask merge concat pivot pivot_table melt stack unstack reset_index set_index
sort_values sort_index rename drop_duplicates dropna fillna replace drop reindex
select_dtypes iterrows itertuples memory_usage duplicated between clip diff pct_change
shift rolling expanding ewm resample nlargest nsmallest rank explode dot reshape ravel
flatten transpose squeeze swapaxes nonzero searchsorted tostring tobytes view
toarray todense tocsr tocsc tocoo nnz getnnz
predict predict_proba predict_log_proba decision_function score get_params
transform inverse_transform get_feature_names get_feature_names_out
split rsplit strip lstrip rstrip lower upper title capitalize startswith endswith
format join find rfind index rindex encode decode isdigit isalpha isnumeric
splitlines partition zfill center ljust rjust casefold isin str cat dt
plot hist boxplot bar barh scatter pie line area kde density
equals eq ne lt le gt ge add sub mul div truediv floordiv pow mod
combine_first align first last sample_frac isspace isupper islower
""".split())
# plotting methods: `df.plot()` leaves the frame as it is, `ax.plot()` draws on the axes
PLOT_METHODS = frozenset({"plot", "hist", "bar", "barh", "scatter", "pie", "boxplot", "area",
                          "line", "kde", "density"})
# calls that make matplotlib figures or axes (whose plot methods change them)
FIGURE_CALLS = frozenset({"subplots", "figure", "add_subplot", "add_axes", "gca", "gcf",
                          "subplot", "axes", "twinx", "twiny", "subplot2grid", "subfigures",
                          "add_gridspec", "inset_axes"})
# methods whose result is (part of) the receiver: `ax = fig.add_subplot()`, `m = pipe.fit(X)`
RETURNS_PART = FIGURE_CALLS | {"fit", "partial_fit", "set_params", "get_figure", "get_axes",
                               "get_legend", "legend", "colorbar"}
# which receivers a view can come from: `x = arr.reshape(...)` may share arr's data
VIEW_METHODS = frozenset({"reshape", "ravel", "view", "transpose", "squeeze", "swapaxes"})
# calls that change an argument in place
MUTATING_FUNCTIONS = frozenset({"shuffle", "copyto", "fill_diagonal", "put", "place",
                                "putmask", "random_shuffle", "next", "setattr", "delattr",
                                "heappush", "heappop", "heapify", "heapreplace",
                                "heappushpop", "insort", "insort_left", "insort_right"})
# calls whose result is an iterator: reading it in another cell consumes it (a change)
ITERATOR_CALLS = frozenset({"iter", "map", "filter", "zip", "enumerate", "reversed", "open",
                            "count", "cycle", "repeat", "chain", "islice", "permutations",
                            "combinations", "product", "groupby", "accumulate", "starmap",
                            "takewhile", "dropwhile", "tee", "zip_longest", "finditer",
                            "reader", "DictReader", "iterrows", "itertuples"})
# calls that draw from numpy's global generator unless given a random_state
RNG_IMPLICIT = frozenset({"sample", "train_test_split", "cross_val_score", "cross_validate",
                          "cross_val_predict", "make_classification", "make_regression",
                          "make_blobs", "make_moons", "make_circles", "make_swiss_roll",
                          "make_s_curve", "make_friedman1", "rvs", "random_split",
                          "learning_curve", "validation_curve", "permutation_importance",
                          "resample", "shuffle", "permutation"})
# fitting an estimator draws from the global generator, unless the estimator is one of
# these (deterministic) or was made with a random_state
FIT_METHODS = frozenset({"fit", "fit_transform", "fit_predict", "partial_fit", "fit_resample"})
DETERMINISTIC = frozenset("""
LinearRegression Ridge RidgeCV Lasso LassoCV ElasticNet ElasticNetCV PolynomialFeatures
StandardScaler MinMaxScaler MaxAbsScaler RobustScaler Normalizer Binarizer OneHotEncoder
OrdinalEncoder LabelEncoder LabelBinarizer SimpleImputer KNNImputer FunctionTransformer
KNeighborsClassifier KNeighborsRegressor NearestNeighbors RadiusNeighborsClassifier
GaussianNB MultinomialNB BernoulliNB ComplementNB LinearDiscriminantAnalysis
QuadraticDiscriminantAnalysis SVC SVR NuSVC NuSVR KernelRidge CountVectorizer
TfidfVectorizer TfidfTransformer HashingVectorizer DictVectorizer KBinsDiscretizer
PowerTransformer SplineTransformer GaussianProcessRegressor KernelDensity
Pipeline make_pipeline ColumnTransformer make_column_transformer FeatureUnion
make_union TransformedTargetRegressor GridSearchCV VotingClassifier VotingRegressor
""".split())
RNG_SEEDS = frozenset({"numpy.random.seed", "random.seed", "torch.manual_seed",
                       "tensorflow.random.set_seed", "keras.utils.set_random_seed",
                       "tensorflow.set_random_seed", "numpy.random.set_state",
                       "random.setstate"})
RNG_FUNCTIONS_NEW = frozenset({"default_rng", "RandomState", "Generator", "PCG64",
                               "MT19937", "SeedSequence", "Philox", "SFC64", "BitGenerator"})
SETTINGS_CALLS = {
    # module -> functions that change process-wide settings
    "pandas": {"set_option", "reset_option"},
    "numpy": {"set_printoptions", "seterr", "seterrcall"},
    "warnings": {"filterwarnings", "simplefilter", "resetwarnings"},
    "matplotlib": {"rc", "rcdefaults", "use", "rc_file", "style"},
    "matplotlib.pyplot": {"rc", "rcdefaults", "style", "ion", "ioff", "xkcd", "switch_backend"},
    "seaborn": {"set", "set_theme", "set_style", "set_context", "set_palette",
                "set_color_codes", "reset_defaults", "reset_orig"},
    "os": {"chdir", "putenv", "unsetenv"},
    "sys": {"setrecursionlimit"},
    "torch": {"set_default_dtype", "set_printoptions", "set_num_threads"},
    "IPython.display": {"set_matplotlib_formats"},
    "matplotlib_inline.backend_inline": {"set_matplotlib_formats"},
    "sklearn": {"set_config"},
}
SETTINGS_ATTRS = {  # module attributes whose change (assignment, item or method) is a setting
    "pandas": {"options"}, "matplotlib": {"rcParams"}, "matplotlib.pyplot": {"rcParams"},
    "sys": {"path", "modules", "stdout", "stderr"}, "os": {"environ"},
}
FILE_WRITE_METHODS = frozenset({"to_csv", "to_pickle", "to_parquet", "to_excel", "to_json",
                                "to_hdf", "to_feather", "to_sql", "to_stata", "savefig",
                                "save", "save_weights", "write_text", "write_bytes",
                                "to_file", "export_graphviz", "dump", "savez", "savetxt",
                                "savez_compressed", "imsave", "urlretrieve", "mkdir",
                                "makedirs", "rmtree", "remove", "unlink", "rename", "touch"})
FILE_READ_FUNCS = frozenset({"read_csv", "read_pickle", "read_parquet", "read_excel",
                             "read_json", "read_hdf", "read_feather", "read_sql", "read_table",
                             "read_fwf", "read_stata", "read_html", "load", "loadtxt",
                             "genfromtxt", "fromfile", "imread", "read_text", "read_bytes",
                             "load_model", "load_weights", "exists", "isfile", "isdir",
                             "listdir", "glob", "walk", "scandir", "iterdir", "Image",
                             "load_workbook", "loadmat", "read"})
# magics: what they do to the namespace and hidden state
_CODE_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_DISPLAY_MAGICS = frozenset({"html", "HTML", "latex", "javascript", "js", "markdown", "svg",
                             "md", "pinfo", "pinfo2", "psearch", "pdoc", "pdef", "psource",
                             "pfile", "history", "lsmagic", "magic", "page", "pwd", "ls",
                             "dhist", "doctest_mode"})
_SETTINGS_MAGICS = frozenset({"matplotlib", "config", "precision", "load_ext", "reload_ext",
                              "unload_ext", "autoreload", "aimport", "env", "cd", "pylab",
                              "pip", "conda", "xmode", "colors", "autocall", "automagic",
                              "pdb", "alias", "autosave", "set_env", "gui"})
_SHELL_MAGICS = frozenset({"bash", "sh", "script", "system", "sx", "perl", "ruby", "python",
                           "python3", "pypy", "cmd", "powershell"})
_READ_ALL_MAGICS = frozenset({"who", "whos", "who_ls", "store", "save", "pastebin", "edit",
                              "notebook", "logstart", "macro", "recall", "rerun"})
_BIND_ALL_MAGICS = frozenset({"run", "load", "reset", "reset_selective", "xdel", "pylab",
                              "loadpy", "paste", "cpaste"})


@dataclass(frozen=True)
class FunctionUse:
    """What calling a function defined in a cell does with the notebook's names."""

    reads: frozenset[str] = frozenset()  # globals it reads when called
    binds: frozenset[str] = frozenset()  # globals it rebinds (`global x`)
    mutates: frozenset[str] = frozenset()  # globals it changes in place
    mutates_args: bool = False  # it changes a parameter in place
    state_reads: frozenset[str] = frozenset()
    state_writes: frozenset[str] = frozenset()
    generator: bool = False  # calling it makes an iterator (its body yields)


@dataclass(frozen=True)
class CellAnalysis:
    """Names and hidden state one cell reads, binds and changes (top level, in order)."""

    reads: frozenset[str] = frozenset()  # read before the cell surely binds them
    binds: frozenset[str] = frozenset()  # (re)bound or deleted
    mutates: frozenset[str] = frozenset()  # objects changed in place (and so read)
    # names whose object a call in this cell may change (arguments of user functions)
    call_args: tuple[tuple[str, frozenset[str]], ...] = ()
    functions: tuple[tuple[str, FunctionUse], ...] = ()  # def/class/lambda bound here
    # name -> names whose call-time behaviour it carries (`g = f`, `model = make(f)`)
    carries: tuple[tuple[str, frozenset[str]], ...] = ()
    aliases: tuple[frozenset[str], ...] = ()  # names that may share one object
    state_reads: frozenset[str] = frozenset()
    state_writes: frozenset[str] = frozenset()
    used: frozenset[str] = frozenset()  # every name read (also after the cell binds it)
    # bound on some paths only (`if c: x = 1`, a loop variable): the earlier value may live
    # on, so inference orders the cell after the earlier binder (no read for edge checks)
    maybe_binds: frozenset[str] = frozenset()
    reads_all: bool = False  # exec/eval/globals()/%who: may read any name
    seeds_rng: bool = False  # seeds a global random generator (np.random.seed, random.seed)
    fits: frozenset[str] = frozenset()  # estimators made in other cells that the cell fits
    # names bound to a new estimator here, and whether fitting it is deterministic
    estimators: tuple[tuple[str, bool], ...] = ()
    iterators: frozenset[str] = frozenset()  # names bound to an iterator (a generator...)
    figures: frozenset[str] = frozenset()  # names bound to matplotlib figures or axes
    plotted: frozenset[str] = frozenset()  # receivers of plot methods (`ax.plot`, `df.plot`)
    made_by: tuple[tuple[str, str], ...] = ()  # name -> the function whose call bound it
    binds_unknown: bool = False  # star import, exec, globals()[...]: may bind any name
    parsed: bool = True
    notes: tuple[str, ...] = ()

    @property
    def touches(self) -> frozenset[str]:
        """Every name the cell reads, binds or changes."""
        return self.reads | self.binds | self.mutates


def _base_name(node: ast.AST) -> str | None:
    """The name at the root of `a.b[c].d` (None when the root is not a name)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str | None:
    """`np.random.seed` as text, when the expression is a dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _str_arg(call: ast.Call, index: int = 0, keyword: str | None = None) -> str | None:
    """A literal string argument of a call, if it is one."""
    node: ast.AST | None = None
    if len(call.args) > index and not isinstance(call.args[index], ast.Starred):
        node = call.args[index]
    elif keyword:
        node = next((k.value for k in call.keywords if k.arg == keyword), None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _deterministic(call: ast.Call) -> bool:
    """Whether fitting what this call makes leaves the global random generator alone: every
    estimator in it is deterministic or gets a random_state."""
    for node in ast.walk(call):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name[:1].isupper() or name.startswith("make_"):
                if name not in DETERMINISTIC and not any(
                        k.arg == "random_state" for k in node.keywords):
                    return False
    return True


def _targets(node: ast.AST) -> Iterable[ast.AST]:
    """The leaves of an assignment target (`a, (b, *c)` -> a, b, c)."""
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _targets(elt)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)
    else:
        yield node


def _alias_sources(value: ast.AST | None) -> set[str]:
    """Names whose object value may be (or be part of, or share data with)."""
    if value is None:
        return set()
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Starred)):
        base = _base_name(value)
        return {base} if base else set()
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_alias_sources(e) for e in value.elts)) if value.elts else set()
    if isinstance(value, ast.Dict):
        return set().union(*(_alias_sources(v) for v in value.values)) if value.values else set()
    if isinstance(value, ast.IfExp):
        return _alias_sources(value.body) | _alias_sources(value.orelse)
    if isinstance(value, ast.NamedExpr):
        return _alias_sources(value.value)
    if isinstance(value, (ast.BoolOp,)):
        return set().union(*(_alias_sources(v) for v in value.values))
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if value.func.attr in VIEW_METHODS or value.func.attr in ("iter", "values", "items"):
            return _alias_sources(value.func.value)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in (
            "iter", "zip", "enumerate", "list", "reversed", "tuple", "dict", "next"):
        return set().union(set(), *(_alias_sources(a) for a in value.args))
    return set()


class _Imports:
    """Which names are modules (or functions from them), for hidden-state rules."""

    def __init__(self, known: tuple[tuple[str, str], ...] = ()) -> None:
        self.modules: dict[str, str] = dict(known)  # local name -> dotted module / object

    def add(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.modules[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    self.modules[top] = top
        else:
            mod = node.module or ""
            for a in node.names:
                if a.name != "*":
                    self.modules[a.asname or a.name] = f"{mod}.{a.name}"

    def resolve(self, dotted: str | None) -> str | None:
        """`np.random.seed` -> `numpy.random.seed` (None when the root is no import)."""
        if not dotted:
            return None
        root, _, rest = dotted.partition(".")
        full = self.modules.get(root)
        if full is None:
            return None
        return f"{full}.{rest}" if rest else full


def _state_of_call(full: str, call: ast.Call) -> tuple[set[str], set[str], str | None]:
    """(state read, state written, note) of a call to module function `full`."""
    module, _, func = full.rpartition(".")
    reads: set[str] = set()
    writes: set[str] = set()
    for mod, funcs in SETTINGS_CALLS.items():
        if (module == mod or module.startswith(mod + ".")) and (
                func in funcs or module.endswith(".style")):
            return reads, {SETTINGS}, f"{full}() changes a process-wide setting"
    if module in ("matplotlib.style", "matplotlib.pyplot.style"):
        return reads, {SETTINGS}, f"{full}() changes the plot style"
    if full in ("sys.path.append", "sys.path.insert", "sys.path.extend", "os.environ.update",
                "os.environ.setdefault"):
        return reads, {SETTINGS}, f"{full}() changes a process-wide setting"
    if any(module == m or module.startswith(m + ".") for m in ("numpy.random", "random")):
        if func in RNG_FUNCTIONS_NEW:  # a generator of its own: a name like any other
            return reads, writes, None
        return {RNG}, {RNG}, f"{full}() uses the global random generator"
    if full in ("torch.manual_seed", "tensorflow.random.set_seed", "tf.random.set_seed",
                "torch.cuda.manual_seed", "torch.cuda.manual_seed_all", "keras.utils.set_random_seed"):
        return {RNG}, {RNG}, f"{full}() seeds a global random generator"
    if func in ("open",) or (module in ("io", "codecs", "gzip", "bz2", "zipfile", "tarfile")
                             and func in ("open", "ZipFile", "TarFile")):
        return _open_state(call)
    path = _str_arg(call)
    if func in FILE_WRITE_METHODS and module.split(".")[0] in (
            "numpy", "pickle", "joblib", "json", "os", "shutil", "matplotlib", "urllib",
            "imageio", "scipy", "torch", "pathlib", "sklearn", "dill", "yaml"):
        target = path if func not in ("dump",) else _str_arg(call, 1)
        return set(), {f"file:{target}" if target else FILES}, None
    if func in FILE_READ_FUNCS and module.split(".")[0] in (
            "numpy", "pandas", "pickle", "joblib", "json", "os", "glob", "matplotlib", "PIL",
            "imageio", "scipy", "torch", "pathlib", "openpyxl", "dill", "yaml", "keras"):
        return {f"file:{path}" if path else FILES}, set(), None
    if module.split(".")[0] in ("subprocess", "shutil") or full in ("os.system", "os.popen"):
        return {FILES}, {FILES}, f"{full}() runs a shell command (may read and write files)"
    return reads, writes, None


def _open_state(call: ast.Call) -> tuple[set[str], set[str], str | None]:
    path = _str_arg(call, 0, "file")
    mode = _str_arg(call, 1, "mode") or "r"
    res = f"file:{path}" if path else FILES
    if any(c in mode for c in "wax+"):
        return ({res} if "+" in mode or "a" in mode else set()), {res}, None
    return {res}, set(), None


class _Scope:
    """Everything a function or lambda body does, ignoring order (it runs later)."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.stores: set[str] = set()
        self.globals: set[str] = set()
        self.mutated: set[str] = set()
        self.state_reads: set[str] = set()
        self.state_writes: set[str] = set()


class CellVisitor:
    """Walks one cell's module-level statements in order."""

    def __init__(self, modules: tuple[tuple[str, str], ...] = ()) -> None:
        self.reads: set[str] = set()
        self.binds: set[str] = set()
        self.sure: set[str] = set()
        self.assigned: set[str] = set()  # bound other than by an import
        self.used: set[str] = set()  # every name read, also after the cell binds it
        self.maybe: set[str] = set()  # bound only on some paths  # bound unconditionally so far: reads after it are local
        self.mutates: set[str] = set()
        self.call_args: list[tuple[str, frozenset[str]]] = []
        self.functions: dict[str, FunctionUse] = {}
        self.carries: dict[str, set[str]] = {}
        self.aliases: list[frozenset[str]] = []
        self.state_reads: set[str] = set()
        self.state_writes: set[str] = set()
        self.reads_all = False
        self.binds_unknown = False
        self.seeds_rng = False
        self.fits: set[str] = set()
        self.estimators: dict[str, bool] = {}
        self.iterators: set[str] = set()
        self.figures: set[str] = set()
        self.plotted: set[str] = set()
        self.made_by: dict[str, str] = {}
        self.notes: list[str] = []
        self.imports = _Imports(modules)
        self.depth = 0  # > 0 inside if/for/while/try: bindings there may not happen
        self._outer: list[set[str]] = []  # `sure` of the enclosing blocks

    # --- names -------------------------------------------------------------------------
    def read(self, name: str) -> None:
        self.used.add(name)
        if name not in self.sure and name not in BUILTIN_NAMES:
            self.reads.add(name)
        elif name in _OUTPUT_HISTORY and name not in self.sure:
            self.reads.add(name)

    def bind(self, name: str, by_import: bool = False) -> None:
        self.binds.add(name)
        if not by_import:
            self.assigned.add(name)
        self.functions.pop(name, None)
        if self.depth > 0 and name not in self.sure:  # maybe bound: the old value may live on
            self.maybe.add(name)
        self.sure.add(name)  # surely bound from here to the end of the block

    def mutate(self, name: str | None) -> None:
        if name is None or name in BUILTIN_NAMES:
            return
        if name in self.imports.modules and name not in self.assigned:
            return  # a module (or an imported function): its state is hidden state
        self.read(name)
        if name in self.sure and not any(name in g for g in self.aliases):
            return  # an object this cell made: changing it is part of making it
        self.mutates.add(name)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # --- walking -----------------------------------------------------------------------
    def statements(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def enter(self) -> None:
        """A block that may not run (or run again): what it binds is sure only inside it."""
        self.depth += 1
        self._outer.append(set(self.sure))

    def leave(self) -> None:
        self.depth -= 1
        self.sure = self._outer.pop()

    def nested(self, body: list[ast.stmt]) -> None:
        self.enter()
        self.statements(body)
        self.leave()

    def statement(self, node: ast.stmt) -> None:  # noqa: C901 - one case per statement kind
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                self.expr(d)
            self._defaults(node.args)
            if node.returns is not None:
                self.expr(node.returns)
            use = self.function_use(node)
            self.bind(node.name)
            self.functions[node.name] = use
        elif isinstance(node, ast.ClassDef):
            for e in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self.expr(e)
            use = self.class_use(node)
            self.bind(node.name)
            self.functions[node.name] = use
        elif isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.assign(target, node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
                self.assign(node.target, node.value)
            else:
                self.expr(node.annotation)
        elif isinstance(node, ast.AugAssign):
            self.expr(node.value)
            if isinstance(node.target, ast.Name):
                self.read(node.target.id)
                self.mutates.add(node.target.id)  # `lst += [x]` changes the list in place
                self.bind(node.target.id)
            else:
                self.assign(node.target, None)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.read(target.id)
                    self.bind(target.id)
                    self.sure.discard(target.id)
                else:
                    self.assign(target, None)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports.add(node)
            for a in node.names:
                if a.name == "*":
                    self.binds_unknown = True
                    self.note(f"'from {node.module} import *' binds names no analysis can list")
                else:
                    self.bind(a.asname or a.name.split(".")[0], by_import=True)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expr(node.iter)
            self.enter()
            self.assign(node.target, node.iter, iterating=True)
            self.statements(node.body)
            self.statements(node.orelse)
            self.leave()
        elif isinstance(node, ast.While):
            self.enter()
            self.expr(node.test)
            self.statements(node.body)
            self.statements(node.orelse)
            self.leave()
        elif isinstance(node, ast.If):
            self.expr(node.test)
            self.nested(node.body)
            self.nested(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, item.context_expr)
            # the body runs (if the context manager does not swallow an error): in order
            self.statements(node.body)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.nested(node.body)
            for handler in node.handlers:
                self.enter()
                if handler.type is not None:
                    self.expr(handler.type)
                if handler.name:  # Python deletes it when the handler ends: no read
                    self.binds.add(handler.name)
                    self.sure.add(handler.name)
                self.statements(handler.body)
                self.leave()
            self.nested(node.orelse)
            self.statements(node.finalbody)
        elif isinstance(node, ast.Global):
            for name in node.names:
                self.read(name)
        elif isinstance(node, ast.Match):
            self.expr(node.subject)
            for case in node.cases:
                self.enter()
                for sub in ast.walk(case.pattern):
                    name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                    if isinstance(name, str):
                        self.bind(name)
                    if isinstance(sub, ast.MatchValue):
                        self.expr(sub.value)
                if case.guard is not None:
                    self.expr(case.guard)
                self.statements(case.body)
                self.leave()
        else:  # Expr, Return, Raise, Assert, Pass, ...
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)

    def _defaults(self, args: ast.arguments) -> None:
        for d in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.expr(d)
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                self.expr(a.annotation)

    def assign(self, target: ast.AST, value: ast.AST | None, iterating: bool = False) -> None:
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            self.estimators[target.id] = _deterministic(value)
        elif isinstance(target, ast.Name):
            self.estimators.pop(target.id, None)
        if isinstance(target, ast.Name):
            func = value.func if isinstance(value, ast.Call) else None
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            self.made_by.pop(target.id, None)
            if isinstance(value, ast.GeneratorExp) or callee in ITERATOR_CALLS:
                self.iterators.add(target.id)
            else:
                self.iterators.discard(target.id)
                if isinstance(func, ast.Name):
                    self.made_by[target.id] = func.id
        if isinstance(value, ast.Call):
            func = value.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            named = {leaf.id for leaf in _targets(target) if isinstance(leaf, ast.Name)}
            if callee in FIGURE_CALLS:
                self.figures |= named
            else:
                self.figures -= named
        sources = _alias_sources(value)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and (
                value.func.attr in RETURNS_PART):
            # `ax = fig.add_subplot()`, `model = pipe.fit(X)`: what a method returns may be
            # part of (or be) its receiver
            sources |= _alias_sources(value.func.value)
        if isinstance(value, ast.Call) and isinstance(target, (ast.Tuple, ast.List)):
            # `fig, ax = plt.subplots()`: the parts of one result may share objects
            sources |= {leaf.id for leaf in _targets(target) if isinstance(leaf, ast.Name)}
        sources = {n for n in sources if n not in self.imports.modules or n in self.assigned}
        carried = self._carried(value)
        for leaf in _targets(target):
            if isinstance(leaf, ast.Name):
                self.bind(leaf.id)
                if sources - {leaf.id}:
                    self.aliases.append(frozenset({leaf.id, *sources}))
                if carried:
                    self.carries[leaf.id] = carried
                elif isinstance(value, ast.Lambda):
                    self.functions[leaf.id] = self.lambda_use(value)
                if isinstance(value, ast.Lambda):
                    self.functions[leaf.id] = self.lambda_use(value)
            elif isinstance(leaf, (ast.Subscript, ast.Attribute)):
                # `df["y"] = ...`, `obj.attr = ...`: the object changes in place
                self.expr_parts(leaf)
                full = self.imports.resolve(_dotted(leaf.value if isinstance(leaf, ast.Subscript)
                                                    else leaf))
                if full is not None and self._is_setting(full):
                    self.state_writes.add(SETTINGS)
                    self.note(f"{_dotted(leaf.value if isinstance(leaf, ast.Subscript) else leaf)}"
                              " changes a process-wide setting")
                self.mutate(_base_name(leaf))
            else:
                self.expr(leaf)

    def _is_setting(self, full: str) -> bool:
        for mod, attrs in SETTINGS_ATTRS.items():
            for attr in attrs:
                if full == f"{mod}.{attr}" or full.startswith(f"{mod}.{attr}."):
                    return True
        return False

    def _carried(self, value: ast.AST | None) -> set[str]:
        """Names of (maybe) functions whose behaviour the assigned value keeps."""
        if value is None or isinstance(value, ast.Lambda):
            return set()
        return {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} - BUILTIN_NAMES

    def expr_parts(self, target: ast.AST) -> None:
        """The loads inside an assignment target (`df[col]`: col is read)."""
        if isinstance(target, ast.Subscript):
            self.expr(target.slice)
            self.expr_parts(target.value)
        elif isinstance(target, ast.Attribute):
            self.expr_parts(target.value)
        elif isinstance(target, ast.Name):
            self.read(target.id)

    def expr(self, node: ast.AST) -> None:
        """Reads (in evaluation order, roughly) of an expression evaluated now."""
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id)
            return
        if isinstance(node, ast.NamedExpr):
            self.expr(node.value)
            self.assign(node.target, node.value)
            return
        if isinstance(node, ast.Lambda):
            self._defaults(node.args)
            use = self.lambda_use(node)
            for name in use.reads:
                self.read(name)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            self.comprehension(node)
            return
        if isinstance(node, ast.Call):
            self.call(node)
        for child in ast.iter_child_nodes(node):
            self.expr(child)

    def comprehension(self, node: ast.AST) -> None:
        # the loop variables are local to the comprehension; walrus targets leak out
        scope = _function_scope(node, self.imports)
        for name in scope.loads - scope.stores:
            self.read(name)
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.enter()
                self.bind(sub.target.id)
                self.leave()
        self._hidden(scope)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                self.call(sub, visit_args=False)

    def call(self, node: ast.Call, visit_args: bool = True) -> None:  # noqa: C901
        func = node.func
        dotted = _dotted(func)
        full = self.imports.resolve(dotted)
        if isinstance(func, ast.Name):
            name = func.id
            if name in ("exec", "eval", "globals", "locals", "vars") and (
                    name != "vars" or not node.args):
                self.reads_all = True
                if name in ("exec", "globals"):
                    self.binds_unknown = True
                self.note(f"{name}() may read or bind any name")
            elif name == "open":
                r, w, _ = _open_state(node)
                self.state_reads |= r
                self.state_writes |= w
            elif name == "get_ipython":
                pass
            arg_names = frozenset(filter(None, (_base_name(a) for a in node.args))) | frozenset(
                filter(None, (_base_name(k.value) for k in node.keywords)))
            if arg_names and name not in BUILTIN_NAMES:
                self.call_args.append((name, arg_names))
            if name in MUTATING_FUNCTIONS and node.args:
                self.mutate(_base_name(node.args[0]))
        callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if callee in RNG_IMPLICIT and not any(k.arg in ("random_state", "seed", "generator")
                                              for k in node.keywords):
            self.state_reads.add(RNG)
            self.state_writes.add(RNG)
        if full in RNG_SEEDS:
            self.seeds_rng = True
        if callee in FIT_METHODS and isinstance(func, ast.Attribute) and not any(
                k.arg == "random_state" for k in node.keywords):
            base = _base_name(func.value)
            if base is not None and base in self.estimators:
                if not self.estimators[base]:
                    self.state_reads.add(RNG)
                    self.state_writes.add(RNG)
            elif base is not None:
                self.fits.add(base)
            else:  # make_pipeline(...).fit(...)
                self.state_reads.add(RNG)
                self.state_writes.add(RNG)
        if full is not None:
            r, w, text = _state_of_call(full, node)
            self.state_reads |= r
            self.state_writes |= w
            if text:
                self.note(text)
            if full.rpartition(".")[2] in MUTATING_FUNCTIONS and node.args:
                self.mutate(_base_name(node.args[0]))
        if isinstance(func, ast.Attribute):
            self._method_call(node, func, dotted, full)

    def _method_call(self, node: ast.Call, func: ast.Attribute, dotted: str | None,
                     full: str | None) -> None:
        if dotted and dotted.startswith("get_ipython()"):
            return
        if isinstance(func.value, ast.Call) and _dotted(func.value.func) == "get_ipython":
            self.magic(func.attr, node)
            return
        base = _base_name(func.value)
        if base is None:
            return
        if full is not None and base in self.imports.modules and base not in self.assigned:
            if self._is_setting(full.rpartition(".")[0]):
                self.state_writes.add(SETTINGS)
                self.note(f"{dotted}() changes a process-wide setting")
            return  # a module function: its hidden state is handled by _state_of_call
        method = func.attr
        inplace = any(k.arg == "inplace" and not (isinstance(k.value, ast.Constant)
                                                  and not k.value.value) for k in node.keywords)
        if method in FILE_WRITE_METHODS:
            path = _str_arg(node)
            self.state_writes.add(f"file:{path}" if path else FILES)
        if method in ("read", "readlines", "readline", "load") and base:
            self.state_reads.add(FILES)
        if method in PLOT_METHODS and not inplace:
            if base in self.figures and base in self.sure:
                return  # axes this cell made
            self.plotted.add(base)
            self.read(base)
        elif inplace or (method not in PURE_METHODS and method not in FILE_WRITE_METHODS):
            self.mutate(base)

    def magic(self, kind: str, node: ast.Call) -> None:
        """`get_ipython().run_line_magic(name, line)` and friends, after the transforms."""
        name = _str_arg(node, 0)
        if kind in ("system", "getoutput"):
            self.state_reads.add(FILES)
            self.state_writes.add(FILES)
            self.note("a shell command (!) may read and write files")
            self._magic_text_reads(_str_arg(node, 0) or "")
            return
        if kind not in ("run_line_magic", "run_cell_magic", "magic") or name is None:
            return
        line = _str_arg(node, 1) or ""
        body = _str_arg(node, 2) if kind == "run_cell_magic" else None
        if name in _CODE_MAGICS:
            code = body if body is not None else _strip_magic_options(line)
            tree = parse(code)
            if tree is None:
                self.reads_all = True
                return
            if body is not None and name == "capture" and line.split():
                self.bind(line.split()[-1])
            if name == "timeit":  # runs in its own namespace: its bindings do not stay
                inner = CellVisitor()
                inner.imports = self.imports
                inner.statements(tree.body)
                for n in inner.reads:
                    self.read(n)
                self._merge_hidden(inner)
                for n in inner.mutates:
                    self.mutate(n)
            else:
                self.statements(tree.body)
        elif name == "writefile":
            path = line.split()[-1] if line.split() else ""
            self.state_writes.add(f"file:{path}" if path else FILES)
        elif name in _SHELL_MAGICS or name in ("pip", "conda"):
            self.state_reads.add(FILES)
            self.state_writes.update({FILES, SETTINGS})
            self.note(f"%{name} may change files and installed packages")
        elif name in _READ_ALL_MAGICS:
            if name == "store" and line.strip() and not line.strip().startswith("-"):
                for n in line.split():
                    self.read(n)
                self.state_writes.add("file:%store")
            elif name == "store" and line.strip().startswith("-r"):
                for n in line.split()[1:]:
                    self.bind(n)
                self.state_reads.add("file:%store")
                if not line.split()[1:]:
                    self.binds_unknown = True
            else:
                self.reads_all = True
                self.note(f"%{name} may read any name")
        elif name in _BIND_ALL_MAGICS:
            self.reads_all = True
            self.binds_unknown = True
            self.state_reads.add(FILES)
            self.note(f"%{name} may read or bind any name")
        elif name in _SETTINGS_MAGICS:
            self.state_writes.add(SETTINGS)
            self.note(f"%{name} changes a process-wide setting")
        elif name in _DISPLAY_MAGICS:
            pass
        else:  # an unknown magic: could do anything
            self.reads_all = True
            self.state_writes.add(SETTINGS)
            self.note(f"%{name} is a magic cellpipe does not know: it may read anything")

    def _magic_text_reads(self, text: str) -> None:
        """`!echo {x} $y`: IPython expands names from the namespace."""
        import re

        for m in re.finditer(r"\{([^{}]+)\}|\$([A-Za-z_]\w*)", text):
            code = m.group(1) or m.group(2)
            tree = parse(code) if code else None
            if tree is not None:
                for n in ast.walk(tree):
                    if isinstance(n, ast.Name):
                        self.read(n.id)

    # --- function bodies ---------------------------------------------------------------
    def function_use(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionUse:
        scope = _function_scope(node, self.imports)
        params = _params(node.args)
        local = (scope.stores | params) - scope.globals
        reads = frozenset(scope.loads - local - BUILTIN_NAMES - {node.name})
        return FunctionUse(
            reads=reads, binds=frozenset(scope.stores & scope.globals),
            mutates=frozenset((scope.mutated - local - BUILTIN_NAMES) | (scope.mutated
                                                                         & scope.globals)),
            mutates_args=bool(scope.mutated & params),
            state_reads=frozenset(scope.state_reads), state_writes=frozenset(scope.state_writes),
            generator=any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)))

    def lambda_use(self, node: ast.Lambda) -> FunctionUse:
        scope = _function_scope(node, self.imports)
        local = scope.stores | _params(node.args)
        return FunctionUse(reads=frozenset(scope.loads - local - BUILTIN_NAMES),
                           mutates=frozenset(scope.mutated - local - BUILTIN_NAMES),
                           mutates_args=bool(scope.mutated & _params(node.args)),
                           state_reads=frozenset(scope.state_reads),
                           state_writes=frozenset(scope.state_writes))

    def class_use(self, node: ast.ClassDef) -> FunctionUse:
        """A class body runs now (its reads are the cell's); its methods run when called."""
        uses = []
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in stmt.decorator_list:
                    self.expr(d)
                self._defaults(stmt.args)
                uses.append(self.function_use(stmt))
            elif isinstance(stmt, ast.ClassDef):
                uses.append(self.class_use(stmt))
            else:
                body = _function_scope(ast.Module(body=[stmt], type_ignores=[]), self.imports)
                for n in body.loads - body.stores:
                    self.read(n)
                self._hidden(body)
        return FunctionUse(
            reads=frozenset().union(*(u.reads for u in uses)) - {node.name},
            binds=frozenset().union(*(u.binds for u in uses)),
            mutates=frozenset().union(*(u.mutates for u in uses)),
            mutates_args=False,
            state_reads=frozenset().union(*(u.state_reads for u in uses)),
            state_writes=frozenset().union(*(u.state_writes for u in uses)))

    def _hidden(self, scope: _Scope) -> None:
        self.state_reads |= scope.state_reads
        self.state_writes |= scope.state_writes
        for n in scope.mutated - scope.stores:
            self.mutate(n)

    def _merge_hidden(self, other: CellVisitor) -> None:
        self.seeds_rng |= other.seeds_rng
        self.state_reads |= other.state_reads
        self.state_writes |= other.state_writes
        self.reads_all |= other.reads_all
        self.binds_unknown |= other.binds_unknown
        for n in other.notes:
            self.note(n)

    def result(self, parsed: bool = True) -> CellAnalysis:
        return CellAnalysis(
            reads=frozenset(self.reads), binds=frozenset(self.binds),
            mutates=frozenset(self.mutates), call_args=tuple(self.call_args),
            functions=tuple(self.functions.items()),
            carries=tuple((k, frozenset(v)) for k, v in self.carries.items()),
            aliases=tuple(self.aliases), used=frozenset(self.used),
            maybe_binds=frozenset(self.maybe - self.reads), state_reads=frozenset(self.state_reads),
            state_writes=frozenset(self.state_writes), reads_all=self.reads_all,
            binds_unknown=self.binds_unknown, seeds_rng=self.seeds_rng, parsed=parsed,
            fits=frozenset(self.fits), estimators=tuple(self.estimators.items()),
            iterators=frozenset(self.iterators), made_by=tuple(self.made_by.items()),
            figures=frozenset(self.figures), plotted=frozenset(self.plotted - self.sure), notes=tuple(self.notes))


def _strip_magic_options(line: str) -> str:
    """`%timeit -n 10 -r 3 f(x)` -> `f(x)`."""
    parts = line.split()
    i = 0
    while i < len(parts) and parts[i].startswith("-"):
        i += 1 if parts[i] in ("-q", "-o", "-p") or len(parts[i]) > 2 else 2
    return " ".join(parts[i:])


def _params(args: ast.arguments) -> set[str]:
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg,
                            args.kwarg] if a is not None}


def _function_scope(node: ast.AST, imports: _Imports) -> _Scope:
    """Loads, stores, globals and in-place changes of a body (nested functions included)."""
    scope = _Scope()
    body_visitor = CellVisitor()
    body_visitor.imports = imports
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (scope.loads if isinstance(sub.ctx, ast.Load) else scope.stores).add(sub.id)
        elif isinstance(sub, ast.arg) and sub is not node:
            scope.stores.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
                sub is not node):
            scope.stores.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            scope.stores.update((a.asname or a.name).split(".")[0] for a in sub.names)
            imports.add(sub)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            scope.stores.add(sub.name)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            scope.globals.update(sub.names)
        elif isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
            scope.loads.add(sub.target.id)
            scope.mutated.add(sub.target.id)
        elif isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = sub.targets if isinstance(sub, (ast.Assign, ast.Delete)) else [sub.target]
            for t in targets:
                for leaf in _targets(t):
                    if isinstance(leaf, (ast.Subscript, ast.Attribute)):
                        base = _base_name(leaf)
                        if base:
                            scope.mutated.add(base)
        elif isinstance(sub, ast.Call):
            body_visitor.call(sub, visit_args=False)
    scope.mutated |= body_visitor.mutates
    scope.state_reads = body_visitor.state_reads
    scope.state_writes = body_visitor.state_writes
    if body_visitor.seeds_rng:
        scope.state_writes.add(RNG_SEED)
    if body_visitor.reads_all:
        scope.state_reads.add("*")
    return scope


def module_names(codes: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Names that the notebook binds only by importing (name -> dotted module or object):
    a method call on one of them changes no notebook object (hidden state aside)."""
    modules: dict[str, str] = {}
    other: set[str] = set()
    for code in codes:
        found, bound = _imports_and_stores(code)
        modules.update(found)
        other |= bound
    return tuple(sorted((n, m) for n, m in modules.items() if n not in other))


@lru_cache(maxsize=4096)
def _imports_and_stores(code: str) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    tree = parse(code)
    if tree is None:
        return (), frozenset()
    imports = _Imports()
    other: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.add(node)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            other.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other.add(node.name)
    return tuple(imports.modules.items()), frozenset(other)


@lru_cache(maxsize=4096)
def analyse(code: str, modules: tuple[tuple[str, str], ...] = ()) -> CellAnalysis:
    """What a cell's code reads, binds and changes (see CellAnalysis); modules are the
    notebook's `module_names` (how `np.random.seed` is recognised across cells)."""
    tree = parse(code)
    if tree is None:
        if not transform(code).strip():
            return CellAnalysis()
        # IPython compiles the same text and fails before running any of it
        return CellAnalysis(parsed=False, notes=("the cell does not parse as Python: it runs "
                                                 "nothing, so it depends on nothing",))
    visitor = CellVisitor(modules)
    visitor.statements(tree.body)
    return visitor.result()
