"""Pipeline, Component and Parameter: the immutable model everything else shares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cellpipe.model.errors import (
    DanglingParentError,
    DuplicateNameError,
    ParameterError,
    UnknownComponentError,
)

PARAMETER_TYPES = ("int", "float", "str", "bool", "json")
# the names a parameter's type goes by in notebooks (cellpipe's and MakinaRocks Link's)
_TYPE_NAMES = {
    "int": "int", "integer": "int", "int64": "int", "int32": "int",
    "float": "float", "number": "float", "double": "float", "float64": "float",
    "str": "str", "string": "str", "text": "str",
    "bool": "bool", "boolean": "bool",
    "json": "json", "list": "json", "dict": "json", "object": "json",
}


def parameter_type(name: Any) -> str | None:
    """The type (one of PARAMETER_TYPES) a notebook's type name means, or None."""
    return _TYPE_NAMES.get(str(name).strip().lower())


def _coerce(name: str, type_: str, value: Any) -> Any:
    """Return value converted to type_, or raise ParameterError naming the parameter."""
    try:
        if type_ == "int":
            if isinstance(value, bool):
                raise ValueError("a bool is not an int")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value} is not a whole number")
            return int(value)
        if type_ == "float":
            if isinstance(value, bool):
                raise ValueError("a bool is not a float")
            return float(value)
        if type_ == "str":
            return str(value)
        if type_ == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(f"{value!r} is not true/false")
        if type_ == "json":
            if isinstance(value, str):
                return json.loads(value)
            json.dumps(value)
            return value
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"parameter {name!r} expects {type_}: {exc}") from None
    raise ParameterError(
        f"parameter {name!r} has unknown type {type_!r}; use one of {', '.join(PARAMETER_TYPES)}"
    )


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`NAME=VALUE` texts (-p options of the CLI and the magic) as name -> raw value."""
    values = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"parameter {item!r} must be NAME=VALUE")
        name, value = item.split("=", 1)
        values[name.strip()] = value
    return values


@dataclass(frozen=True)
class Parameter:
    """A typed pipeline parameter, visible to every component as a global name."""

    name: str
    type: str
    value: Any

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ParameterError(f"parameter name {self.name!r} is not a Python identifier")
        object.__setattr__(self, "value", _coerce(self.name, self.type, self.value))

    def with_value(self, raw: Any) -> Parameter:
        """A copy with raw (a string from the command line, or a value) converted to the type."""
        if isinstance(raw, str) and self.type != "str":
            if self.type == "json":
                return replace(self, value=raw)
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError:
                parsed = raw
            return replace(self, value=parsed)
        return replace(self, value=raw)


@dataclass(frozen=True)
class Component:
    """A code cell that is a pipeline step; its id is the nbformat cell id."""

    id: str
    name: str
    code: str
    parents: tuple[str, ...] = ()
    worker: str | None = None
    persist: bool = True

    def metadata(self) -> dict[str, Any]:
        """The cell's `cellpipe` metadata (DESIGN 3.1)."""
        meta: dict[str, Any] = {"name": self.name, "parents": sorted(self.parents)}
        if self.worker:
            meta["worker"] = self.worker
        if not self.persist:
            meta["persist"] = False
        return meta


@dataclass(frozen=True)
class Pipeline:
    """Components in notebook order plus the pipeline parameters."""

    components: tuple[Component, ...]
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    persist: bool = True
    # cell id -> what that cell is ("a markdown cell"...), for cells that are no component:
    # a parent pointing at one is named as such
    other_cells: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.components})
        object.__setattr__(
            self, "_order", {c.id: i for i, c in enumerate(self.components)}
        )

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.components]

    def __contains__(self, component_id: object) -> bool:
        return component_id in self._by_id  # type: ignore[attr-defined]

    def get(self, component_id: str) -> Component:
        """The component with this id."""
        try:
            return self._by_id[component_id]  # type: ignore[attr-defined,no-any-return]
        except KeyError:
            raise UnknownComponentError(component_id, [c.name for c in self.components]) from None

    def find(self, ref: str) -> Component:
        """The component with this name, or else this id (an ambiguous name is an error)."""
        named = [c for c in self.components if c.name == ref]
        if len(named) > 1:
            raise DuplicateNameError(ref, [c.id for c in named])
        if named:
            return named[0]
        if ref in self:
            return self.get(ref)
        raise UnknownComponentError(ref, [c.name for c in self.components])

    def position(self, component_id: str) -> int:
        """Notebook order of a component (used to break topological ties)."""
        return self._order[component_id]  # type: ignore[attr-defined,no-any-return]

    def missing_parent(self, component_id: str, parent_id: str) -> DanglingParentError:
        """The error for a parent of component_id that is not a component."""
        named = [c.id for c in self.components if c.name == parent_id]
        return DanglingParentError(self.get(component_id).name, parent_id,
                                   self.other_cells.get(parent_id),
                                   named[0] if len(named) == 1 and parent_id not in self.other_cells
                                   else None)

    def graph(self) -> dict[str, tuple[str, ...]]:
        """id -> parent ids, in notebook order."""
        return {c.id: c.parents for c in self.components}

    def parameter_values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Parameter name -> value, with overrides (raw strings allowed) applied and typed."""
        params = dict(self.parameters)
        for name, raw in (overrides or {}).items():
            if name not in params:
                known = ", ".join(params) or "none"
                raise ParameterError(f"unknown parameter {name!r}; parameters are: {known}")
            params[name] = params[name].with_value(raw)
        return {name: p.value for name, p in params.items()}
