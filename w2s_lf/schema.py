"""Typed configuration files: a YAML mapping becomes a dataclass, or an error naming the key.

Recipes (`w2s_lf.run.recipe`) and generation jobs files (`w2s_lf.generation.jobs`) are parsed
once into dataclasses. Unknown keys, missing keys, wrong types and bad `Literal` choices are
reported with their key path (`stage2.k: ...`, `jobs[2].mode: ...`) and a did-you-mean.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any, Literal

from w2s_lf.errors import W2SError


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters: an error stays one readable line."""
    try:
        text = repr(value)
    except ValueError:   # an int of more digits than Python prints
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:   # `True` is not the choice `1`
        if not any(value == c and type(value) is type(c) for c in typing.get_args(hint)):
            choices = ", ".join(repr(c) for c in typing.get_args(hint))
            raise W2SError(f"{where}: {shown(value)} is not one of {choices}")
        return value
    if origin is typing.Union:   # Optional[X]
        if value is None:
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)][0]
        return check_type(value, inner, where)
    if dataclasses.is_dataclass(hint):
        return parse_dataclass(hint, value, where)
    expected = {"int": int, "float": (int, float), "str": str, "bool": bool, "dict": dict, "list": list}
    kind = expected.get(getattr(hint, "__name__", str(hint)))
    if kind is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise W2SError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {type(value).__name__} {shown(value)}")
    if hint is float:
        try:
            number = float(value)
        except OverflowError:   # an int beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise W2SError(f"{where}: expected a finite number, got {shown(value)}")
        return number
    return value


def parse_dataclass(cls, data: Any, where: str = ""):
    """`cls(**data)` for a dataclass `cls`, checked: unknown keys (with a did-you-mean), missing
    required keys, wrong types and `Literal` choices are W2SErrors naming the key path (`where`)."""
    if not isinstance(data, dict):
        raise W2SError(f"{where or 'recipe'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        label = key if isinstance(key, str) and key.isidentifier() else shown(key)
        path = f"{where}.{label}" if where else label
        if key not in names:
            near = difflib.get_close_matches(key, names, n=1) if isinstance(key, str) else []
            hint = f" (did you mean '{near[0]}'?)" if near else f"; known keys: {', '.join(names)}"
            raise W2SError(f"{path}: unknown key{hint}")
        kwargs[key] = check_type(value, hints[key], path)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in kwargs]
    if missing:
        raise W2SError(f"{where or 'recipe'}: missing required key '{missing[0]}'")
    return cls(**kwargs)
