"""How a value is pickled: protocol 5 (cloudpickle), buffers out of band, and the memo
that tells which objects of one pickle are shared."""

from __future__ import annotations

import io
import pickle
import sys
from typing import Any

import cloudpickle


def type_name_of(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def array_view(root: Any, offset: int, shape: tuple[int, ...], strides: tuple[int, ...],
               dtype: Any, writeable: bool) -> Any:
    """A numpy view of root (what view_reducing pickles a view as): it shares root's memory,
    as it did when it was pickled. The name is in stored pickles: keep it."""
    import numpy as np

    view = np.ndarray(shape, dtype=dtype, buffer=root, offset=offset, strides=strides)
    if not writeable:
        view.flags.writeable = False
    return view


def root_of(obj: Any) -> Any:
    """The array owning a numpy view's memory, when the view can be rebuilt on it (views
    of one array are kept as views in a group of variables: see shared_groups), or None."""
    np = sys.modules.get("numpy")
    if np is None or type(obj) is not np.ndarray or obj.base is None:
        return None
    root = obj.base  # the last array of the chain (it may rest on a bytes-like or a mapping)
    while type(root) is np.ndarray and type(root.base) is np.ndarray:
        root = root.base
    if type(root) is not np.ndarray or root.dtype.hasobject or obj.dtype.hasobject or \
            not root.flags.c_contiguous or root.nbytes == 0:
        return None
    return root


def view_reduction(obj: Any) -> Any:
    """How a numpy view is pickled when views must stay views (a group of variables): as
    array_view of the array owning its memory, which the pickle's memo shares with the other
    values; NotImplemented for anything else."""
    root = root_of(obj)
    if root is None:
        return NotImplemented
    offset = int(obj.__array_interface__["data"][0]) - int(root.__array_interface__["data"][0])
    return (array_view, (root, offset, obj.shape, obj.strides, obj.dtype,
                         bool(obj.flags.writeable)))


class _ViewPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        return view_reduction(obj)


class _ViewCloudPickler(cloudpickle.CloudPickler):
    def reducer_override(self, obj: Any) -> Any:
        reduced = view_reduction(obj)
        return super().reducer_override(obj) if reduced is NotImplemented else reduced


def pickle_parts(obj: Any, memo: list[dict[int, Any]] | None = None,
                 views: bool = False) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """Pickle obj (protocol 5) keeping large buffers out of band, uncopied.

    views: numpy views are pickled as views of the array owning their memory (array_view),
    so that values sharing memory still share it when loaded (a group of variables).

    The C pickler is several times faster than cloudpickle on many small objects; its
    result is used unless it refers to `__main__` (classes, functions or lambdas defined
    in the notebook), which only cloudpickle keeps by value.

    memo: a list that receives the pickler's memo, {id(object): (index, object)} for every
    object the pickle refers to more than by value (see shared_groups)."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        if memo is None and not views:
            data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        else:
            with io.BytesIO() as f:
                pickler = (_ViewPickler if views else pickle.Pickler)(
                    f, protocol=5, buffer_callback=buffers.append)
                pickler.dump(obj)
                data = f.getvalue()
        if b"__main__" not in data:
            if memo is not None:
                memo.append(_memo_of(pickler, data))
            return data, buffers
    except Exception:  # lambdas, local classes...: cloudpickle may still manage
        pass
    buffers = []
    if memo is None and not views:
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        return data, buffers
    with io.BytesIO() as f:
        cpickler = (_ViewCloudPickler if views else cloudpickle.CloudPickler)(
            f, protocol=5, buffer_callback=buffers.append)
        cpickler.dump(obj)
        data = f.getvalue()
    if memo is not None:
        memo.append(_memo_of(cpickler, data))
    return data, buffers


_MEMO_MAX = 4 << 20  # pickles longer than this are checked for shared objects at the top only


def _memo_of(pickler: pickle.Pickler, data: bytes) -> dict[int, Any]:
    """The pickler's memo ({id: (index, object)}); {} above _MEMO_MAX bytes of pickle (a
    copy costs about as much as the pickling). The garbage collector is held meanwhile:
    it would otherwise walk the whole value for each batch of the memo's new tuples."""
    if len(data) > _MEMO_MAX:
        return {}
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickler.memo.copy()
    finally:
        if enabled:
            gc.enable()
