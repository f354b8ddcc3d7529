"""Sweeps (DESIGN 8): the values each parameter takes, the combinations, and their rows.

Pure: no execution here. A parameter is swept over a list (`lr=0.1,0.01`) or a range
(`lr=1e-4..1e-1:log`, searched by Optuna); `grid` makes every combination of the lists.
A combination's row holds its swept parameters, the values the run reported, its status
and seconds (`sweep_run` fills it in).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from cellpipe.cache import CacheEntry, load_value
from cellpipe.model import Pipeline
from cellpipe.model.errors import ParameterError

SMALL = 1024  # bytes: bigger values are never reported


@dataclass(frozen=True)
class Axis:
    """One swept parameter: a list of typed values, or a LOW..HIGH range (`log` scale)."""

    name: str
    type: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None


def parse_axis(pipeline: Pipeline, text: str) -> Axis:
    """`NAME=V1,V2,...` or `NAME=LOW..HIGH[:log]` for a parameter of pipeline, typed by it."""
    if "=" not in text:
        raise ParameterError(f"parameter {text!r} must be NAME=V1,V2,... or NAME=LOW..HIGH")
    name, raw = (part.strip() for part in text.split("=", 1))
    if name not in pipeline.parameters:
        known = ", ".join(pipeline.parameters) or "none"
        raise ParameterError(f"unknown parameter {name!r}; parameters are: {known}")
    kind = pipeline.parameters[name].type
    body, _, scale = raw.rpartition(":") if raw.endswith(":log") else (raw, "", "")
    if ".." in body and kind in ("int", "float"):
        low_text, high_text = body.split("..", 1)
        low, high = (_typed(pipeline, name, t) for t in (low_text, high_text))
        if not low < high:
            raise ParameterError(f"parameter {name!r}: the range {raw!r} needs LOW < HIGH")
        if scale and low <= 0:
            raise ParameterError(f"parameter {name!r}: a log range needs LOW > 0 (got {low})")
        return Axis(name, kind, low=low, high=high, log=bool(scale))
    if scale:
        raise ParameterError(f"parameter {name!r}: ':log' goes with a LOW..HIGH range of "
                             "an int or float parameter")
    values = raw.split(",") if kind != "json" else [raw]
    typed = tuple(dict.fromkeys(_typed(pipeline, name, v) for v in values if v != ""))
    if not typed:
        raise ParameterError(f"parameter {name!r} has no values")
    return Axis(name, kind, values=typed)


def _typed(pipeline: Pipeline, name: str, raw: str) -> Any:
    return pipeline.parameter_values({name: raw.strip()})[name]


def grid(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    if any(a.is_range for a in axes):
        raise ParameterError("a LOW..HIGH range is searched, not listed: give --trials N and "
                             "--objective NAME")
    return [dict(zip([a.name for a in axes], combo, strict=True))
            for combo in product(*(a.values for a in axes))]


def split_axes(pipeline: Pipeline, texts: Iterable[str], *,
               searching: bool) -> tuple[list[Axis], dict[str, Any]]:
    """The swept axes and the fixed values (a list of one value sets the parameter for
    every combination) of `-p` texts; raises ParameterError for what cannot be run."""
    axes = [parse_axis(pipeline, t) for t in texts]
    fixed = {a.name: a.values[0] for a in axes if not a.is_range and len(a.values) == 1}
    swept = [a for a in axes if a.name not in fixed]
    if not searching and any(a.is_range for a in swept):
        raise ParameterError("a LOW..HIGH range is searched, not listed: give --trials N and "
                             "--objective NAME")
    return swept, fixed


@dataclass
class Row:
    """One combination's outcome, as the table and `--json` show it."""

    params: dict[str, Any]
    status: str = "pending"  # done, cached, error (pending/running while it runs)
    values: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    best: bool = False
    traceback: list[str] = field(default_factory=list)  # of the error (not in as_json)

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"params": self.params, "values": self.values,
                               "status": self.status, "seconds": round(self.seconds, 3)}
        if self.status == "error":
            row["error"] = self.error
        return row


def reportable(value: Any) -> Any:
    """value as a plain JSON scalar when it is a small number, string or bool, else None."""
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None and getattr(value, "shape", None) == ():
        value = item()
    if isinstance(value, bool | int | str):
        return value if not isinstance(value, str) or len(value) <= 200 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return None


def reported_values(entries: Sequence[CacheEntry], names: Iterable[str] | None) -> dict[str, Any]:
    """What a row reports. entries: the combination's results, the target last.

    names None: the target's names bound to small JSON-able values; else each named
    variable as the target sees it (the last entry that holds it), when reportable."""
    if not entries:
        return {}
    if names is None:
        target = entries[-1]
        found = {n: _load(target, n) for n in sorted(target.variables) if not n.startswith("_")}
        return {n: v for n, v in found.items() if v is not None}
    values = {}
    for name in names:
        holder = next((e for e in reversed(entries) if name in e.variables), None)
        values[name] = _load(holder, name) if holder is not None else None
    return values


def _load(entry: CacheEntry, name: str) -> Any:
    stored = entry.variables[name]
    if stored.kind not in ("immutable", "pickle") or stored.nbytes > SMALL:
        return None
    try:
        return reportable(load_value(stored, {}))
    except Exception:  # noqa: BLE001 - unpickling a value can raise anything
        return None


def mark_best(rows: Sequence[Row], objective: str, direction: str) -> Row | None:
    """Mark (and return) the row with the lowest (minimize) or highest objective value."""
    scored = [r for r in rows if r.status != "error" and _number(r.values.get(objective))]
    if not scored:
        return None
    pick = min if direction == "minimize" else max
    best = pick(scored, key=lambda r: float(r.values[objective]))
    best.best = True
    return best


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def objective_value(row: Row, objective: str) -> float:
    """The row's objective as a float; raises ParameterError naming what is missing."""
    value = row.values.get(objective)
    if not _number(value):
        raise ParameterError(f"the target reports no number named {objective!r} "
                             f"(got {json.dumps(value, default=repr)})")
    return float(value)


def swept_params(axes: Sequence[Axis], values: Mapping[str, Any]) -> dict[str, Any]:
    """The row's params: the swept parameters' values, in the axes' order."""
    return {a.name: values[a.name] for a in axes}
