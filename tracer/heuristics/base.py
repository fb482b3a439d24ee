"""Self-describing heuristics and the registry that ``tracer heuristics`` reads.

Every heuristic module declares ``HEURISTICS: tuple[HeuristicSpec, ...]`` at module level: its
id, title, what it concludes and why that is sound, the published work it follows, and its
parameters with types, defaults and bounds. The registry imports every module under
``tracer.heuristics`` once and validates each spec when loaded (unique kebab-case ids, a
description and at least one reference, defaults within their own bounds), so a malformed
heuristic fails the test suite instead of a user's trace.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import pkgutil
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tracer.errors import InputError, UnknownNameError

_ID_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
ParameterValue = int | float | bool | str


@dataclass(frozen=True, slots=True)
class Reference:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    kind: type[int] | type[float] | type[bool] | type[str]
    default: ParameterValue
    description: str
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, value: object) -> ParameterValue:
        """A user-supplied value (often text from the CLI) checked against type and bounds."""
        converted = _convert(value, self.kind)
        if converted is None:
            raise InputError(
                f"parameter {self.name}: {value!r} is not a valid {self.kind.__name__}"
            )
        if isinstance(converted, float) and not math.isfinite(converted):
            raise InputError(f"parameter {self.name}: {value!r} is not a finite number")
        if isinstance(converted, int | float) and not isinstance(converted, bool):
            if self.minimum is not None and converted < self.minimum:
                raise InputError(f"parameter {self.name}: {converted} is below {self.minimum}")
            if self.maximum is not None and converted > self.maximum:
                raise InputError(f"parameter {self.name}: {converted} is above {self.maximum}")
        return converted


_BOOL_WORDS: dict[str, bool] = {
    "true": True, "1": True, "yes": True, "false": False, "0": False, "no": False,
}  # fmt: skip


def _convert(value: object, kind: type) -> ParameterValue | None:
    """``value`` as ``kind``, or None. Text is parsed (the CLI passes strings); a bool is
    never taken for a number."""
    converted: ParameterValue | None = None
    if kind is bool:
        converted = value if isinstance(value, bool) else _BOOL_WORDS.get(str(value).lower())
    elif isinstance(value, bool):
        converted = None
    elif kind is str:
        converted = value if isinstance(value, str) else None
    elif kind is int and isinstance(value, int):
        converted = value
    elif kind is float and isinstance(value, int | float):
        converted = float(value)
    elif kind in (int, float) and isinstance(value, str):
        with contextlib.suppress(ValueError):
            converted = int(value, 10) if kind is int else float(value)
    return converted


@dataclass(frozen=True, slots=True)
class HeuristicSpec:
    id: str
    title: str
    description: str
    references: tuple[Reference, ...]
    parameters: tuple[Parameter, ...] = ()
    # How the heuristic's confidence values should be read (what 0.9 means for it).
    confidence: str = ""
    module: str = field(default="", compare=False)

    def defaults(self) -> dict[str, ParameterValue]:
        return {parameter.name: parameter.default for parameter in self.parameters}

    def resolve(self, overrides: Mapping[str, object] | None = None) -> dict[str, ParameterValue]:
        """Defaults updated with validated overrides; an unknown parameter is an error."""
        by_name = {parameter.name: parameter for parameter in self.parameters}
        resolved = self.defaults()
        for name, value in (overrides or {}).items():
            if name not in by_name:
                raise UnknownNameError(f"parameter of {self.id}", name, by_name)
            resolved[name] = by_name[name].coerce(value)
        return resolved

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "confidence": self.confidence,
            "references": [{"title": r.title, "url": r.url} for r in self.references],
            "parameters": [
                {
                    "name": p.name,
                    "type": p.kind.__name__,
                    "default": p.default,
                    "minimum": p.minimum,
                    "maximum": p.maximum,
                    "description": p.description,
                }
                for p in self.parameters
            ],
        }


class HeuristicSpecError(Exception):
    """A heuristic module declares an invalid spec: a programming error, not user input."""


def validate(spec: HeuristicSpec) -> None:
    problems: list[str] = []
    if not _ID_RE.match(spec.id):
        problems.append("id must be kebab-case ascii")
    if not spec.title.strip() or not spec.description.strip():
        problems.append("title and description are required")
    if not spec.references:
        problems.append("at least one reference is required")
    for reference in spec.references:
        if not reference.url.startswith(("https://", "http://")):
            problems.append(f"reference {reference.title!r} has no URL")
    names = [parameter.name for parameter in spec.parameters]
    if len(names) != len(set(names)):
        problems.append("parameter names must be unique")
    for parameter in spec.parameters:
        if not parameter.description.strip():
            problems.append(f"parameter {parameter.name} has no description")
        try:
            if parameter.coerce(parameter.default) != parameter.default:
                problems.append(
                    f"parameter {parameter.name}: default {parameter.default!r} "
                    f"is not a {parameter.kind.__name__}"
                )
        except InputError as error:
            problems.append(f"default out of bounds: {error}")
    if problems:
        raise HeuristicSpecError(f"heuristic {spec.id!r} ({spec.module}): {'; '.join(problems)}")


def discover(package: str = "tracer.heuristics") -> tuple[HeuristicSpec, ...]:
    """Import every module below ``package`` and collect its validated ``HEURISTICS``."""
    root = importlib.import_module(package)
    specs: dict[str, HeuristicSpec] = {}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        module = importlib.import_module(info.name)
        for spec in getattr(module, "HEURISTICS", ()):
            if not isinstance(spec, HeuristicSpec):
                raise HeuristicSpecError(f"{info.name}.HEURISTICS holds {spec!r}")
            spec_with_module = HeuristicSpec(
                spec.id, spec.title, spec.description, spec.references, spec.parameters,
                spec.confidence, info.name,
            )  # fmt: skip
            validate(spec_with_module)
            if spec.id in specs:
                raise HeuristicSpecError(
                    f"heuristic id {spec.id!r} is declared by {specs[spec.id].module} "
                    f"and {info.name}"
                )
            specs[spec.id] = spec_with_module
    return tuple(sorted(specs.values(), key=lambda spec: spec.id))


@cache
def registry() -> tuple[HeuristicSpec, ...]:
    return discover()


def get(heuristic_id: str) -> HeuristicSpec:
    for spec in registry():
        if spec.id == heuristic_id:
            return spec
    raise UnknownNameError("heuristic", heuristic_id, [spec.id for spec in registry()])
