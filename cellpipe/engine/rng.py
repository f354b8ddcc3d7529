"""The global random generators a component leaves behind (Python's `random`, NumPy's legacy
`np.random`), kept with its result: a component served from the cache sets them as running
it would have, so the components after it draw the numbers top to bottom gives (DESIGN 4)."""

from __future__ import annotations

import random
import sys
from typing import Any

# the name a result keeps them under (an interpreter-internal name: never a user's)
RNG_NAME = "__cellpipe_rng__"


def states() -> dict[str, Any]:
    """The generators' states now (numpy's only when numpy is imported)."""
    out: dict[str, Any] = {"random": random.getstate()}
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            out["numpy"] = np.random.get_state()
        except Exception:  # noqa: BLE001 - a numpy without the legacy generator
            pass
    return out


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys() or a["random"] != b["random"]:
        return False
    if "numpy" not in a:
        return True
    (kind_a, keys_a, *rest_a), (kind_b, keys_b, *rest_b) = a["numpy"], b["numpy"]
    return kind_a == kind_b and rest_a == rest_b and bool((keys_a == keys_b).all())


def restore(saved: Any) -> None:
    """Set the generators to saved (what states() gave); anything else is ignored."""
    if not isinstance(saved, dict):
        return
    try:
        if "random" in saved:
            random.setstate(saved["random"])
        if "numpy" in saved:
            import numpy as np

            np.random.set_state(saved["numpy"])
    except (TypeError, ValueError, ImportError):  # a state from another version: left as is
        pass
