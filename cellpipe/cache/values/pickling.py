"""How a value is pickled: protocol 5 (cloudpickle), buffers out of band, and the memo
that tells which objects of one pickle are shared."""

from __future__ import annotations

import io
import pickle
from typing import Any

import cloudpickle


def type_name_of(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def pickle_parts(obj: Any, memo: list[dict[int, Any]] | None = None,
                 ) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """Pickle obj (protocol 5) keeping large buffers out of band, uncopied.

    The C pickler is several times faster than cloudpickle on many small objects; its
    result is used unless it refers to `__main__` (classes, functions or lambdas defined
    in the notebook), which only cloudpickle keeps by value.

    memo: a list that receives the pickler's memo, {id(object): (index, object)} for every
    object the pickle refers to more than by value (see shared_groups)."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        if memo is None:
            data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        else:
            with io.BytesIO() as f:
                pickler = pickle.Pickler(f, protocol=5, buffer_callback=buffers.append)
                pickler.dump(obj)
                data = f.getvalue()
        if b"__main__" not in data:
            if memo is not None:
                memo.append(_memo_of(pickler, data))
            return data, buffers
    except Exception:  # lambdas, local classes...: cloudpickle may still manage
        pass
    buffers = []
    if memo is None:
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        return data, buffers
    with io.BytesIO() as f:
        cpickler = cloudpickle.CloudPickler(f, protocol=5, buffer_callback=buffers.append)
        cpickler.dump(obj)
        data = f.getvalue()
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
