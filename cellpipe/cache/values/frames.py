"""pandas objects under Copy-on-Write: kept as shallow copies, and whether one was written
told by its blocks (FrameWatch) instead of a pickle."""

from __future__ import annotations

from typing import Any


def cow_frame(obj: Any) -> bool:
    """Whether obj is a pandas DataFrame/Series that Copy-on-Write protects whole: pandas
    >= 3 (CoW always on) and no numpy object column (whose elements could be mutable)."""
    module = type(obj).__module__
    if module.partition(".")[0] != "pandas" or _PANDAS_COW is False:
        return False
    import pandas as pd

    if type(obj) not in (pd.DataFrame, pd.Series):
        return False
    if not _pandas_cow():
        return False
    try:
        import numpy as np

        # numpy object blocks may hold mutable objects; extension arrays (strings...) do not
        return not any(isinstance(b.values, np.ndarray) and b.values.dtype.hasobject
                       for b in obj._mgr.blocks)
    except Exception:  # noqa: BLE001 - pandas internals moved: take the general path
        return False


_PANDAS_COW: bool | None = None


def _pandas_cow() -> bool:
    global _PANDAS_COW
    if _PANDAS_COW is None:
        import pandas as pd

        _PANDAS_COW = int(pd.__version__.split(".")[0]) >= 3
    return _PANDAS_COW


class FrameWatch:
    """What a pandas object looked like when it entered a namespace: its block arrays and
    axes (kept alive, so identity means sameness), names and attrs. Copy-on-Write replaces a
    shared array on any write, and the shallow copy held here makes every array shared."""

    def __init__(self, obj: Any) -> None:
        self.ref = obj.copy(deep=False)  # shares every array with obj: a write copies first
        self.state = _frame_state(obj)

    def unchanged(self, obj: Any) -> bool:
        try:
            now = _frame_state(obj)
        except Exception:  # noqa: BLE001
            return False
        if len(now) != len(self.state):
            return False
        for a, b in zip(now, self.state, strict=True):
            if isinstance(a, tuple):
                if len(a) != len(b) or any(x is not y for x, y in zip(a, b, strict=True)):
                    return False
            else:
                try:
                    if bool(a != b):
                        return False
                except Exception:  # noqa: BLE001 - attrs that do not compare
                    return False
        return True


def _frame_state(obj: Any) -> tuple[Any, ...]:
    mgr = obj._mgr
    arrays = tuple(b.values for b in mgr.blocks)
    axes = tuple(obj.axes)
    names = tuple(tuple(ax.names) for ax in axes)
    name = getattr(obj, "name", None) if not hasattr(obj, "columns") else None
    return (arrays, axes, (mgr,), repr(names), repr(name), dict(obj.attrs),
            obj.flags.allows_duplicate_labels)
