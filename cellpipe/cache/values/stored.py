"""StoredValue: one variable of a cache entry as kept (shared, pickled, a group of
variables sharing objects, or not cacheable), and how it is stored and loaded."""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import types
from typing import Any

import cloudpickle

from cellpipe.cache.values import alloc
from cellpipe.cache.values.backing import Backing, fresh_copy
from cellpipe.cache.values.fingerprint import fingerprint_parts, is_function_of
from cellpipe.cache.values.frames import cow_frame
from cellpipe.cache.values.functions import rebind_function
from cellpipe.cache.values.pagemap import clean_token
from cellpipe.cache.values.pickling import pickle_parts, root_of, type_name_of

_IMMUTABLE_SCALARS = (int, float, complex, str, bytes, bool, type(None), range)


def _is_immutable(obj: Any, depth: int = 0) -> bool:
    if isinstance(obj, _IMMUTABLE_SCALARS):
        return True
    if type(obj) in (tuple, frozenset) and depth < 3 and len(obj) < 1000:
        return all(_is_immutable(x, depth + 1) for x in obj)
    return False


def move_array(name: str, arr: Any) -> StoredValue | None:
    """Store a big numpy array that nothing but its namespace holds, by moving its bytes into
    the memfd (the caller then binds the stored copy instead): never two copies at once.
    None when it does not qualify (small, not contiguous...)."""
    if not _HAVE_MEMFD or arr.nbytes < _SHARE_MIN or arr.dtype.hasobject:
        return None
    try:
        data, pbuffers = pickle_parts(arr)
    except Exception:  # noqa: BLE001
        return None
    raws = [b.raw() for b in pbuffers]
    try:
        if len(raws) != 1 or raws[0].nbytes != arr.nbytes:
            return None
        return StoredValue("pickle", None, data=data, type_name=type_name_of(arr),
                           backing=Backing.in_memory(raws, move=True))
    finally:
        for b in pbuffers:
            b.release()


def seal_array(arr: Any) -> StoredValue | None:
    """Store a big numpy array made in a memfd (alloc.py) without copying it: its memfd
    becomes the stored value and the array, at the same address, a copy-on-write mapping
    of it (views and aliases included). None when arr was not made there (or no longer
    matches its memfd: written since an earlier seal)."""
    if type(arr).__name__ != "ndarray" or type(arr).__module__ != "numpy" or \
            arr.dtype.hasobject or arr.nbytes < _SHARE_MIN or \
            not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        return None
    if alloc.region_of(int(arr.__array_interface__["data"][0])) is None:
        return None
    try:
        data, pbuffers = pickle_parts(arr)
    except Exception:  # noqa: BLE001
        return None
    try:
        raws = [b.raw() for b in pbuffers]
        backing = _kept_in_place(raws) if len(raws) == 1 and raws[0].nbytes == arr.nbytes \
            else None
    finally:
        for b in pbuffers:
            b.release()
    if backing is None:
        return None
    return StoredValue("pickle", None, data=data, type_name=type_name_of(arr), backing=backing)


def _kept_in_place(raws: list[memoryview]) -> Backing | None:
    """The memfd a value's one big buffer was made in (alloc.py), sealed, as its backing: no
    copy. None when the buffer was not made there, is a small part of its memfd (which would
    keep all of it), or no longer matches it (written since an earlier seal)."""
    if len(raws) != 1 or not alloc.regions_made():
        return None
    np = sys.modules.get("numpy")
    raw = raws[0]
    if np is None or raw.nbytes < _SHARE_MIN:
        return None
    address = int(np.frombuffer(raw, dtype=np.uint8).__array_interface__["data"][0])
    region = alloc.region_of(address)
    # a region made private in a forked child may still change in the parent
    if region is None or region.sealed == 2 or raw.nbytes * 2 < region.size:
        return None
    if region.sealed and clean_token(raw) is None:
        return None
    try:
        if not region.sealed:
            alloc.seal(address)
        offset = address - region.base
        return Backing(os.dup(region.fd), offset + raw.nbytes, [offset], [raw.nbytes])
    except OSError:
        return None


class StoredValue:
    """A variable as kept in a cache entry.

    kind: 'immutable' (value shared), 'module' (module name), 'function' (a function bound to
    the run namespace, re-bound on load), 'pickle' (data + buffers, each consumer gets its
    own object), 'frame' (a pandas object without Python-object columns, kept as a
    Copy-on-Write shallow copy; pickled only when written), 'shared' (unpicklable: the
    live object, shared by reference, never persisted), 'group' (a pickle of {name: value}
    for variables that share objects, kept under the first name) or 'member' (another
    name of a group: data is the group's name; see load_values).

    Buffers live in `buffers` (small values), or once in `backing` (big ones).
    """

    def __init__(self, kind: str, fingerprint: str | None, value: Any = None,
                 data: bytes = b"", buffers: list[Any] | None = None, type_name: str = "",
                 reason: str = "", backing: Backing | None = None) -> None:
        self.kind = kind
        self._fingerprint = fingerprint
        self.value = value
        self._data = data
        self._buffers = list(buffers) if buffers is not None else None
        self.type_name = type_name
        self.reason = reason
        self.backing = backing
        self.refs: dict[int, Any] | None = None  # objects it refers to (shared_groups)

    def __repr__(self) -> str:
        return f"StoredValue({self.kind!r}, {self.type_name!r}, {self.nbytes} bytes)"

    @property
    def serializer(self) -> str:
        """How the value is written: a frame is a pickle on disk."""
        return "pickle" if self.kind == "frame" else self.kind

    def parts(self) -> tuple[bytes, list[Any]]:
        """(pickle data, buffers) to write this value out: buffers are bytes-likes, or the
        Backing itself (copy it with filecopy.copy_range)."""
        if self.kind == "frame":
            data, pbuffers = pickle_parts(self.value)
            if self._fingerprint is None:
                self._fingerprint = fingerprint_parts(data, pbuffers)
            return data, [b.raw() for b in pbuffers]
        if self.backing is not None:
            return self._data, [self.backing]
        return self._data, list(self._buffers or [])

    @property
    def fingerprint(self) -> str | None:
        """Content hash of the value's parts (taken on first use for big values)."""
        if self._fingerprint is None and self.kind == "frame":
            self.parts()
        elif self._fingerprint is None and self.backing is not None:
            self._fingerprint = self.backing.fingerprint(self._data)
        return self._fingerprint

    @fingerprint.setter
    def fingerprint(self, value: str | None) -> None:
        self._fingerprint = value

    @property
    def data(self) -> bytes:
        return self.parts()[0] if self.kind == "frame" else self._data

    @data.setter
    def data(self, value: bytes) -> None:
        self._data = value

    @property
    def buffers(self) -> list[Any]:
        """The out-of-band buffers as bytes-likes (big ones mapped read-only)."""
        if self.kind == "frame":
            return self.parts()[1]
        if self.backing is not None:
            return self.backing.views(private=False)
        return list(self._buffers or [])

    @buffers.setter
    def buffers(self, value: list[Any]) -> None:
        self._buffers = list(value)
        self.backing = None

    @property
    def nbytes(self) -> int:
        """Bytes this value holds in memory (a file on disk counts nothing; a frame counts
        its arrays, which it shares with the run until one of them is written)."""
        if self.kind == "frame":
            try:
                return int(self.value.memory_usage(deep=False, index=True).sum()) \
                    if hasattr(self.value, "columns") else int(self.value.nbytes)
            except Exception:  # noqa: BLE001 - an estimate only
                return 0
        held = len(self._data) + sum(memoryview(b).nbytes for b in self._buffers or [])
        return held + (self.backing.in_memory_bytes if self.backing is not None else 0)

    @property
    def persistable(self) -> bool:
        return self.kind != "shared"


_SHARE_MIN = 1 << 20  # buffers of a value totalling this much are kept once, in a memfd


_HAVE_MEMFD = hasattr(os, "memfd_create") and hasattr(os, "sendfile")


def store_value(name: str, obj: Any, namespace: dict[str, Any],
                memo: bool = False) -> StoredValue:
    """Snapshot obj (bound to name in namespace) so later mutations cannot reach the copy.

    memo: keep the objects the value refers to (`.refs`, for shared_groups)."""
    tname = type_name_of(obj)
    if isinstance(obj, types.ModuleType):
        return StoredValue(
            "module", "module:" + obj.__name__, value=obj, data=obj.__name__.encode(),
            type_name=tname,
        )
    if _is_immutable(obj):
        try:
            data, buffers = pickle_parts(obj)
        except Exception:
            data, buffers = b"", []
        return StoredValue(
            "immutable", fingerprint_parts(data, buffers), value=obj, data=data, type_name=tname
        )
    if is_function_of(obj, namespace):
        try:
            data = cloudpickle.dumps(obj, protocol=5)
        except Exception as exc:
            return StoredValue("shared", None, value=obj, type_name=tname,
                               reason=f"{name!r} ({tname}) cannot be pickled: {exc}")
        return StoredValue("function", "function:" + str(id(obj.__code__)), value=obj,
                           data=data, type_name=tname)
    if cow_frame(obj):
        # Copy-on-Write: the snapshot shares the arrays; a later write copies them first
        kept = StoredValue("frame", None, value=obj.copy(deep=False), type_name=tname)
        if memo:
            kept.refs = {id(obj): obj}
        return kept
    memos: list[dict[int, Any]] | None = [] if memo else None
    try:
        data, pbuffers = pickle_parts(obj, memos)
    except Exception as exc:
        return StoredValue(
            "shared", None, value=obj, type_name=tname,
            reason=f"{name!r} ({tname}) cannot be pickled ({type(exc).__name__}: {exc}); "
            "it is shared by reference and the result is not cached",
        )
    kept = _pickled("pickle", data, pbuffers, tname)
    if memos is not None:
        kept.refs = memos[0] if memos and memos[0] else {id(obj): obj}
        kept.refs = {**kept.refs, **own_refs(obj)}
    return kept


def own_refs(obj: Any) -> dict[int, Any]:
    """obj, and for a numpy view the array owning its memory: a value holding that array
    (or another view of it) shares memory with obj, and is kept with it (shared_groups)."""
    root = root_of(obj)
    return {id(obj): obj} if root is None else {id(obj): obj, id(root): root}


def _pickled(kind: str, data: bytes, pbuffers: list[pickle.PickleBuffer],
             tname: str) -> StoredValue:
    raws = [b.raw() for b in pbuffers]
    try:
        if _HAVE_MEMFD and sum(r.nbytes for r in raws) >= _SHARE_MIN:
            # the one copy that protects the entry (none when its buffer was made in a memfd);
            # consumers map it copy-on-write. Its content hash is taken when (and if) it is
            # written to disk, off the run.
            return StoredValue(kind, None, data=data, type_name=tname,
                               backing=_kept_in_place(raws) or Backing.in_memory(raws))
        return StoredValue(kind, fingerprint_parts(data, pbuffers), data=data,
                           buffers=[bytes(r) for r in raws], type_name=tname)
    finally:
        for b in pbuffers:
            b.release()


def identity_matters(obj: Any) -> bool:
    """Whether two variables referring to obj must keep referring to one object: not for
    values (str, numbers, tuples...) nor for what pickles by name or is canonical on load
    (classes, functions, modules, numpy dtypes)."""
    if isinstance(obj, (*_IMMUTABLE_SCALARS, tuple, frozenset, type, types.FunctionType,
                        types.BuiltinFunctionType, types.ModuleType, types.CodeType,
                        types.MethodType)):
        return False
    np = sys.modules.get("numpy")
    return not (np is not None and isinstance(obj, np.dtype))


def shared_groups(stored: dict[str, StoredValue]) -> list[list[str]]:
    """Names (in stored's order) whose values refer to common objects, in groups of two or
    more, from the `.refs` store_value(memo=True) kept; drops those refs."""
    names = [n for n, s in stored.items() if s.refs]
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for i, a in enumerate(names):
        refs_a = stored[a].refs
        for b in names[i + 1:]:
            if root(a) == root(b):
                continue
            refs_b = stored[b].refs
            small, big = (refs_a, refs_b) if len(refs_a) <= len(refs_b) else (refs_b, refs_a)
            common = small.keys() & big.keys()
            if any(identity_matters(_memo_obj(small[k])) for k in common):
                parent[root(b)] = root(a)
    for n in names:
        stored[n].refs = None
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def _memo_obj(entry: Any) -> Any:
    """The object of a memo entry ((index, object) in a pickler's memo, or the object)."""
    return entry[1] if isinstance(entry, tuple) and len(entry) == 2 and \
        isinstance(entry[0], int) else entry


def store_group(names: list[str], namespace: dict[str, Any]) -> dict[str, StoredValue]:
    """names (whose values share objects) kept as one pickle of {name: value}, with one
    memo: the first name holds it (kind 'group'), the others are 'member's naming it.
    None of them 'shared' (unpicklable): the caller checked."""
    objs = {n: namespace[n] for n in names}
    data, pbuffers = pickle_parts(objs, views=True)  # views of one array stay its views
    leader = names[0]
    out = {leader: _pickled("group", data, pbuffers, type_name_of(objs[leader]))}
    for n in names[1:]:
        out[n] = StoredValue("member", "member:" + leader, data=leader.encode(),
                             type_name=type_name_of(objs[n]))
    return out


def load_value(stored: StoredValue, namespace: dict[str, Any],
               source_file: str | None = None) -> Any:
    """A value for a consumer's namespace, where no write can reach the stored value: big
    buffers mapped copy-on-write, frames as Copy-on-Write shallow copies, small ones copied.

    source_file: where the producing component's code was compiled (for its functions)."""
    if stored.kind in ("immutable", "shared"):
        if stored.value is None and stored.data:
            stored.value = pickle.loads(stored.data)
        return stored.value
    if stored.kind == "module":
        if stored.value is None:
            stored.value = importlib.import_module(stored.data.decode())
        return stored.value
    if stored.kind == "function":
        func = stored.value if stored.value is not None else pickle.loads(stored.data)
        return rebind_function(func, namespace, source_file)
    if stored.kind == "frame":
        return stored.value.copy(deep=False)  # Copy-on-Write: no data copied
    if stored.kind == "member":
        raise ValueError(f"a value of group {stored.data.decode()!r} is loaded with its "
                         "group (load_values)")
    if stored.backing is not None:
        return pickle.loads(stored.data, buffers=stored.backing.views(private=True))
    copies = [fresh_copy(memoryview(b)) for b in stored.buffers]
    return pickle.loads(stored.data, buffers=copies)


GROUPED = ("group", "member")  # kinds only readers of entry format 2 know


def format_version(variables: dict[str, StoredValue]) -> int:
    """The entry format version a result needs: 2 when it holds a group (older cellpipe
    versions skip such an entry, as absent, instead of misreading it), else 1."""
    return 2 if any(v.kind in GROUPED for v in variables.values()) else 1


def load_values(variables: dict[str, StoredValue], namespace: dict[str, Any],
                source_file: str | None = None, load: Any = None) -> dict[str, Any]:
    """The values of a result's variables for a consumer (load_value each), a group's
    names bound to the objects of one unpickling: what was one object stays one.

    load: the function that loads one value (load_value's signature)."""
    load = load or load_value
    out: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for name, stored in variables.items():
        if stored.kind == "member":
            continue
        value = load(stored, namespace, source_file)
        if stored.kind == "group":
            groups[name] = value
            value = value[name]
        out[name] = value
    for name, stored in variables.items():
        if stored.kind == "member":
            group = groups.get(stored.data.decode())
            if group is None or name not in group:
                raise ValueError(f"variable {name!r} belongs to a group "
                                 f"{stored.data.decode()!r} that the result lacks")
            out[name] = group[name]
    return {name: out[name] for name in variables}
