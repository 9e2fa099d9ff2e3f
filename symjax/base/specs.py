"""``name:key=value:key=value`` specs for init schemes, optimizers and data sets.

A spec names a registered thing and, optionally, some of its hyperparameters, e.g.
``tied_eps:eps=1e-4``, ``adam:b2=0.99``, ``moons:samples=128:noise=0.2``. Values are booleans
(``true``/``false``), integers or floats. Specs are canonical when keys are sorted and values are
written with :func:`format_value`; :func:`format_spec` gives that form, so equal specs compare
equal as strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from .errors import InputError, choose

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
_INT = re.compile(r"^[+-]?[0-9]+$")

Value = bool | int | float


def parse_value(kind: str, key: str, text: str) -> Value:
    """``"true"`` -> True, ``"3"`` -> 3, ``"1e-3"`` -> 0.001; InputError otherwise."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(low) if _INT.match(low) else float(low)
    except ValueError:
        raise InputError(f"{kind} option {key}={text!r} is not a number or true/false") from None


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def parse_spec(
    kind: str, text: str, names: Iterable[str], keys: Mapping[str, Iterable[str]]
) -> tuple[str, dict[str, Value]]:
    """Split ``"name:key=value:..."`` into ``(name, {key: value})``, checking the name
    against ``names`` and the keys against ``keys[name]``; ``kind`` ("optimizer", ...) names
    the spec in InputError messages (unknown name or key, malformed option, non-finite number).
    """
    if not isinstance(text, str):
        raise InputError(f"{kind} {text!r} must be a string such as 'name' or 'name:key=value'")
    parts = [p.strip() for p in text.strip().split(":")]
    name = choose(kind, parts[0], names)
    allowed = tuple(keys.get(name, ()))
    options: dict[str, Value] = {}
    for part in parts[1:]:
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise InputError(f"{kind} option {part!r} in {text!r} must look like key=value")
        if key not in allowed:
            shown = ", ".join(allowed) if allowed else "none"
            raise InputError(f"unknown option {key!r} for {kind} {name!r}; allowed: {shown}")
        if key in options:
            raise InputError(f"{kind} option {key!r} is given twice in {text!r}")
        value = parse_value(kind, key, raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{kind} option {key}={raw!r} must be finite")
        options[key] = value
    return name, options


def check_option_type(kind: str, name: str, key: str, value: Value, default) -> None:
    """Refuse a number for an option whose ``default`` is boolean, and a boolean for any other."""
    if isinstance(default, bool) != isinstance(value, bool):
        shown = "true or false" if isinstance(default, bool) else "a number"
        raise InputError(f"{kind} {name} option {key}={format_value(value)} must be {shown}")


def format_spec(name: str, options: Mapping[str, Value]) -> str:
    """Canonical spec text: ``name`` then ``:key=value`` for each option, keys sorted."""
    return ":".join([name, *(f"{k}={format_value(options[k])}" for k in sorted(options))])


def split_list(value, what: str = "list") -> list:
    """A comma-separated string -> list of stripped items; a list or tuple -> list; else [value].

    A blank string gives ``[]`` (callers say what may not be empty); an empty item between
    commas (``"sgd,,adam"``, ``"sgd,"``) raises InputError naming ``what``.
    """
    if isinstance(value, str):
        if not value.strip():
            return []
        items = [v.strip() for v in value.split(",")]
        if not all(items):
            raise InputError(f"{what} {value!r} has an empty item (two commas in a row, or a "
                             f"comma at an end)")
        return items
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
