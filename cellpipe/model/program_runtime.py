"""The runner of an exported program (`cellpipe export --format py`), copied into it as text.

It imports nothing of cellpipe: the program must run where only the user's libraries are.
It gives DESIGN §4's semantics the way the engine does, with plain Python objects: a
component runs in a namespace holding its ancestors' changes applied in run order; what
it changed is the names it bound or deleted and the objects it changed in place (a content
fingerprint before and after, over the names it can reach). When a component that runs
later, not among its descendants, shares an ancestor with it (and so may hold the same
objects), what it can reach is deep-copied first: no sibling ever sees its change.
"""

import argparse
import builtins
import contextlib
import copy
import hashlib
import io
import json
import pickle
import re
import sys
import traceback
import types

# IPython's own bookkeeping names, never part of a component's changes (as in the engine)
_IPYTHON_NAMES = re.compile(r"^(_|__|___|_\d+|_i|_ii|_iii|_i\d+|_oh|_ih|_dh|In|Out|_exit_code)$")


def main(components, parameters, sinks, description, argv=None):
    """Parse the command line, run the targets and their ancestors; the exit status."""
    args = _arguments(components, parameters, sinks, description).parse_args(argv)
    values = {name: getattr(args, name) for name in parameters}
    targets = args.target or sinks
    needed = set(targets).union(*(step[2] for step in components if step[1] in targets))
    order = [step for step in components if step[1] in needed]  # already topological
    _TOP_LEVEL.update(step[0].__code__ for step in components)
    return 0 if PipelineRun(values).run(order, set(targets)) else 1


def _arguments(components, parameters, sinks, description):
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [step[1] for step in components]
    parser.add_argument("--target", "-t", action="append", choices=names, metavar="NAME",
                        help="a component to run (repeat for several; default: every sink: "
                             f"{', '.join(sinks)}). Components: {', '.join(names)}")
    for name, (type_name, default) in parameters.items():
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        parser.add_argument(*flags, dest=name, type=_PARSERS[type_name], default=default,
                            metavar=type_name.upper(),
                            help=f"parameter {name} ({type_name}, default: {default!r})")
    return parser


def _bool(text):
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true/false")


_bool.__name__ = "bool"
_PARSERS = {"int": int, "float": float, "str": str, "bool": _bool, "json": json.loads}


# the code objects of the component functions: their frames are a cell's top level
_TOP_LEVEL = set()


def _scope(frame):
    """What locals() means in frame: the namespace at a component's top level (a notebook
    cell's locals are its globals), the frame's own locals elsewhere."""
    return frame.f_globals if frame.f_code in _TOP_LEVEL else frame.f_locals


def _locals():
    return _scope(sys._getframe(1))


def _vars(*args):
    return vars(*args) if args else _scope(sys._getframe(1))


def _dir(*args):
    return dir(*args) if args else sorted(_scope(sys._getframe(1)))


def display(*objects):
    """IPython's display() for a plain program: each object's repr on its own line."""
    for obj in objects:
        print(repr(obj))


class PipelineRun:
    """Components run one by one, each in the namespace its ancestors' changes make."""

    def __init__(self, values):
        self.values = values
        # one module for every component: functions a component defines see, as in a
        # notebook, the namespace of the component that calls them; classes pickle by name
        self.module = types.ModuleType("__main__")
        self.builtins = dict(vars(builtins), display=display, locals=_locals, vars=_vars,
                             dir=_dir)
        self.changes = {}  # component name -> (names it bound or changed -> value, deleted)

    def run(self, order, targets):
        """Run the components of order (topological); False after a component's error."""
        saved = sys.modules.get("__main__")
        sys.modules["__main__"] = self.module
        try:
            for i, step in enumerate(order):
                later = order[i + 1:]
                if not self._run_step(step, later, step[1] in targets):
                    return False
                still_read = {a for other in later for a in other[2]}
                for name in list(self.changes):
                    if name not in still_read:
                        del self.changes[name]  # its values may go back
            return True
        finally:
            sys.modules["__main__"] = saved

    def _run_step(self, step, later, shown):
        function, name, ancestors, mentions = step
        ns = self.module.__dict__
        self._enter(ns, ancestors)
        reach = _reachable(ns, mentions)
        # every object here comes from an ancestor's changes (or is a fresh parameter); a
        # later component that does not descend from this one but shares an ancestor may
        # hold the same objects: then what this one can reach gets a private copy
        if any(name not in other[2] and set(ancestors) & set(other[2]) for other in later):
            _copy_private(ns, reach)
        fingerprints = {n: _fingerprint(ns[n]) for n in reach}
        before = dict(ns)
        print(f"▶ {name}", file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(sys.stdout if shown else sys.stderr):
            try:
                value = types.FunctionType(function.__code__, ns, function.__name__)()
            except Exception as exc:
                sys.stdout.flush()
                print(f"error in component {name!r}:", file=sys.stderr)
                traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
                return False
            if value is not None:  # the last expression, as Jupyter shows it
                print(repr(value))
            sys.stdout.flush()
        self.changes[name] = _changes(ns, before, reach, fingerprints)
        return True

    def _enter(self, ns, ancestors):
        """Fill ns with the parameters and the ancestors' changes in run order."""
        ns.clear()
        ns.update(__name__="__main__", __builtins__=self.builtins)
        ns.update(copy.deepcopy(self.values))
        for ancestor in ancestors:
            bound, deleted = self.changes[ancestor]
            ns.update(bound)
            for gone in deleted:
                ns.pop(gone, None)


def _internal(name):
    return (name.startswith("__") and name.endswith("__")) or bool(_IPYTHON_NAMES.match(name))


def _reachable(ns, mentions):
    """The names a component mentions plus the globals the pipeline's functions and classes
    among them refer to, transitively (what its code can change in place)."""
    found = set()
    stack = [n for n in mentions if n in ns]
    while stack:
        name = stack.pop()
        if name in found:
            continue
        found.add(name)
        stack.extend(n for n in _referred(ns[name], ns) if n in ns)
    return found


def _referred(value, ns):
    """The globals a pipeline function, class, or instance of such a class refers to."""
    functions = [value]
    cls = value if isinstance(value, type) else type(value)
    if cls.__module__ == "__main__" and not isinstance(value, types.FunctionType):
        functions = [f for c in cls.__mro__ if c.__module__ == "__main__"
                     for f in vars(c).values()]
    names = set()
    for function in functions:
        if isinstance(function, types.FunctionType) and function.__globals__ is ns:
            names |= _code_names(function.__code__)
    return names


def _code_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _copy_private(ns, names):
    """Deep-copy the values of names in ns, together (objects they share stay shared), and
    rebind every other name holding one of those objects to its copy. A value that cannot
    be copied stays shared."""
    memo = {}
    for name in sorted(names):
        with contextlib.suppress(Exception):
            ns[name] = copy.deepcopy(ns[name], memo)
    if memo:
        for name, value in list(ns.items()):
            if name not in names and not _internal(name) and id(value) in memo:
                ns[name] = memo[id(value)]


class _Recorder(pickle.Pickler):
    """A pickler that notes the id of every object it writes (what a value holds)."""

    def __init__(self, file, held):
        super().__init__(file, protocol=5)
        self.held = held

    def persistent_id(self, obj):
        self.held.add(id(obj))
        return None


def _fingerprint(value, held=None):
    """A digest of the value's pickle (None when it does not pickle: taken as unchanged);
    held, when given, gets the ids of the objects the value holds."""
    if isinstance(value, (types.ModuleType, types.FunctionType, type)):
        return None
    buffer = io.BytesIO()
    try:
        if held is None:
            pickle.dump(value, buffer, protocol=5)
        else:
            _Recorder(buffer, held).dump(value)
    except Exception:
        return None
    return hashlib.blake2b(buffer.getbuffer(), digest_size=16).digest()


def _identity_matters(value):
    """Whether another name holding this object must see what happens to it."""
    return not isinstance(value, (int, float, complex, str, bytes, type(None), tuple,
                                  frozenset, types.ModuleType, types.FunctionType, type))


def _changes(ns, before, reach, fingerprints):
    """(name -> value for the names bound, rebound or changed in place, deleted names)."""
    bound = {n: v for n, v in ns.items()
             if not _internal(n) and (n not in before or before[n] is not v)}
    mutated = [n for n in reach if n in ns and n not in bound and fingerprints[n] is not None
               and _fingerprint(ns[n]) != fingerprints[n]]
    bound.update((n, ns[n]) for n in mutated)
    # a name whose object a changed value holds (`holder = [x]`, or another name for an
    # object changed in place) changed with it: descendants must get the two as one
    held = set()
    for value in bound.values():
        _fingerprint(value, held)
    if held:
        bound.update((n, v) for n, v in ns.items()
                     if n not in bound and not _internal(n) and id(v) in held
                     and _identity_matters(v))
    deleted = {n for n in before if n not in ns and not _internal(n)}
    return bound, deleted
