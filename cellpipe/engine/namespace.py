"""The namespace a component runs in, and what a component changed in it.

A component's change ("delta") is: the names it bound, rebound or deleted, plus the
objects it mutated in place among the names it can reach (names its code mentions, and
the globals of pipeline functions it calls). Mutation is found by comparing a fast
content fingerprint taken when the value entered the namespace with one taken after.
"""

from __future__ import annotations

import builtins
import re
import sys
import types
from collections.abc import Iterable
from typing import Any

from cellpipe.cache import CacheEntry, StoredValue, load_value, store_value
from cellpipe.cache.values import (
    changed,
    identity_matters,
    load_values,
    move_array,
    own_refs,
    root_of,
    seal_array,
    shared_groups,
    store_group,
    watch,
)
from cellpipe.engine import rng

# IPython's own bookkeeping names (output cache, input history, shell exit code)
_IPYTHON_NAMES = re.compile(r"^(_|__|___|_\d+|_i|_ii|_iii|_i\d+|_oh|_ih|_dh|In|Out|_exit_code)$")


def _is_internal(name: str) -> bool:
    return (name.startswith("__") and name.endswith("__")) or bool(_IPYTHON_NAMES.match(name))


class RunNamespace:
    """One fresh namespace plus the parameters, and which components' effects it holds."""

    def __init__(self, parameters: dict[str, Any]) -> None:
        self.parameters = parameters
        self.reset()

    def reset(self) -> None:
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.ns.update(self.parameters)
        # name -> what its value looked like when it entered (values.watch)
        self.fingerprints: dict[str, Any] = {
            name: watch(value) for name, value in self.parameters.items()
        }
        self.applied: list[str] = []
        self.rng_before: dict[str, Any] = rng.states()
        # name -> the names it was kept with (values.store_group): what may hold its object
        self.groups: dict[str, frozenset[str]] = {}

    def _note_groups(self, variables: dict[str, StoredValue]) -> None:
        """Remember which names a result kept together (see changes())."""
        members: dict[str, list[str]] = {}
        for name, stored in variables.items():
            if stored.kind == "group":
                members.setdefault(name, []).append(name)
            elif stored.kind == "member":
                members.setdefault(stored.data.decode(), []).append(name)
        for names in members.values():
            group = frozenset(names)
            for name in names:
                self.groups[name] = group

    def apply(self, entry: CacheEntry) -> None:
        """Bring a component's stored changes in (consumers get their own copies)."""
        values = load_values(entry.variables, self.ns, entry.source_file)
        for name, stored in entry.variables.items():
            value = values[name]
            if name == rng.RNG_NAME:  # the random generators as running it left them
                rng.restore(value)
                continue
            self.ns[name] = value
            self.fingerprints[name] = watch(value, self.ns, stored)
        values = {}
        self._note_groups(entry.variables)
        for name in entry.deleted:
            self.ns.pop(name, None)
            self.fingerprints.pop(name, None)
        self.applied.append(entry.component_id)

    def before(self) -> dict[str, Any]:
        """A shallow copy of the bindings, taken before a component runs (and the random
        generators' states)."""
        self.rng_before = rng.states()
        return dict(self.ns)

    def reachable(self, names: Iterable[str]) -> set[str]:
        """names plus the globals that pipeline functions among them refer to (transitively)."""
        found: set[str] = set()
        stack = [n for n in names if n in self.ns]
        while stack:
            name = stack.pop()
            if name in found:
                continue
            found.add(name)
            value = self.ns.get(name)
            if isinstance(value, types.FunctionType) and value.__globals__ is self.ns:
                stack.extend(n for n in _code_names(value.__code__) if n in self.ns)
        return found

    def changes(
        self, before: dict[str, Any], mentioned: Iterable[str]
    ) -> tuple[dict[str, StoredValue], list[str]]:
        """Snapshot what the component just run changed: (name -> stored value, deleted)."""
        stored_now: dict[str, StoredValue] = {}
        bound = [name for name, value in self.ns.items()
                 if not _is_internal(name) and (name not in before or before[name] is not value)]
        moved: set[str] = set()
        reach = self.reachable(mentioned)
        # values that may share objects with another: keep what they refer to (one check)
        memo = len(set(bound) | reach) > 1
        for name in bound:
            kept = seal_array(self.ns[name])
            if kept is not None:  # made in a memfd: that memfd is the stored copy, and the
                if memo:  # array, where it was, maps it copy-on-write; another value
                    kept.refs = own_refs(self.ns[name])  # holding it groups
                stored_now[name] = kept  # with it (shared_groups: one copy, one object)
                moved.add(name)
                continue
            kept = move_array(name, self.ns[name]) if _sole_array(self.ns[name], False) else None
            if kept is not None:  # its bytes now live only in the stored copy: bind that
                self.ns[name] = load_value(kept, self.ns)
                stored_now[name] = kept
                moved.add(name)
            else:
                stored_now[name] = store_value(name, self.ns[name], self.ns, memo)
        deleted = [n for n in before if n not in self.ns and not _is_internal(n)]
        for name in reach:
            if name in stored_now or _is_internal(name):
                continue
            if name not in self.fingerprints or changed(self.ns[name],
                                                        self.fingerprints[name], self.ns):
                stored_now[name] = store_value(name, self.ns[name], self.ns, memo)
        # another name for an object that changed in place changed too: record it, so a run
        # from the cache shows it changed as well (as one object, it would show it live)
        mutated = {id(self.ns[n]): n for n in stored_now
                   if stored_now[n].kind in ("pickle", "frame") and before.get(n) is self.ns[n]}
        if mutated:
            for name in mutated.values():  # its aliases are kept with it (shared_groups)
                if stored_now[name].refs is None:
                    stored_now[name].refs = own_refs(self.ns[name])
            # the names it was kept with may hold it (holder = [x]): they changed with it
            for name in list(mutated.values()):
                for other in self.groups.get(name, ()):
                    if other not in stored_now and other in self.ns:
                        stored_now[other] = store_value(other, self.ns[other], self.ns, True)
            for name, value in list(self.ns.items()):
                if id(value) in mutated and name not in stored_now and not _is_internal(name):
                    stored_now[name] = store_value(name, value, self.ns, True)
            value = None
        if memo:
            self._add_referred(stored_now)
        # names whose values share objects are kept as one pickle: a consumer gets one object
        # where the component had one (DESIGN 4: the cache gives the state a run gives)
        for group in shared_groups(stored_now):
            try:
                stored_now.update(store_group(group, self.ns))
            except Exception:  # noqa: BLE001 - each pickles alone: keep them apart
                pass
        self._note_groups(stored_now)
        for name, stored in stored_now.items():
            held_before = before.get(name) is self.ns[name]
            if name not in moved and stored.kind == "pickle" and stored.backing is not None and \
                    _sole_array(self.ns[name], held_before):
                # nothing else holds it: continue with the stored copy, mapped copy-on-write
                # (the original's memory goes back, and later checks read page flags, not bytes)
                self.ns[name] = load_value(stored, self.ns)
            self.fingerprints[name] = watch(self.ns[name], self.ns, stored)
        for name in deleted:
            self.fingerprints.pop(name, None)
            self.groups.pop(name, None)
        now = rng.states()
        if not rng.same(now, self.rng_before):  # it drew numbers or seeded: kept with it
            stored_now[rng.RNG_NAME] = store_value(rng.RNG_NAME, now, self.ns)
        return stored_now, deleted

    def _add_referred(self, stored_now: dict[str, StoredValue]) -> None:
        """Store with the result the unchanged variables (from ancestors) whose object a
        stored value refers to, as in `holder = [x]`: kept with it (shared_groups), a
        consumer's holder[0] is its x. Objects inside such a variable (`[x['inner']]`) are
        not found: that would take pickling every variable of the namespace."""
        by_id: dict[int, list[str]] = {}
        for name, value in self.ns.items():
            if name not in stored_now and not _is_internal(name) and identity_matters(value):
                by_id.setdefault(id(value), []).append(name)
                root = root_of(value)  # a numpy view: found by the array owning its memory
                if root is not None:  # too (a new view of it shares that memory)
                    by_id.setdefault(id(root), []).append(name)
        if not by_id:
            return
        found: list[str] = []
        for stored in stored_now.values():
            if stored.refs:
                for key in stored.refs.keys() & by_id.keys():
                    found.extend(by_id.pop(key))
        for name in dict.fromkeys(found):
            stored_now[name] = store_value(name, self.ns[name], self.ns, True)

    def user_items(self) -> dict[str, Any]:
        """The bindings a user would see (no interpreter internals)."""
        return {k: v for k, v in self.ns.items() if not _is_internal(k)}


def _sole_array(value: Any, held_before: bool) -> bool:
    """Whether value is a numpy array owning its memory that only the namespace (and the
    bindings from before the component) refer to, so replacing it changes nothing visible."""
    if type(value).__name__ != "ndarray" or type(value).__module__ != "numpy":
        return False
    if value.base is not None or not value.flags.owndata:
        return False
    # references: the namespace, this frame's argument, getrefcount's argument, and
    # the before-dict when the component mutated it in place
    return sys.getrefcount(value) <= 3 + held_before


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names
