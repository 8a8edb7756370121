"""Fields checked against their dataclass's own type hints.

A producer on the other side of a topic may be older, newer, buggy or hostile. Checking each field
against the type the dataclass declares, rather than by hand field by field, means a field added to
`Read` or `Alert` later is checked the day it is added: a wrongly typed value becomes a `CodecError`
(quarantined) instead of a message that crashes whoever reads that field next.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from functools import cache
from typing import Any

from .errors import CodecError


@cache
def field_hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def coerce(value: Any, hint: Any, where: str) -> Any:
    """`value` as the type `hint` declares (lists become tuples, integers become floats where a float
    is declared and finite floats integers where an integer is), or `CodecError` naming `where`.
    Numbers must be finite."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return coerce(value, option, where)
            except CodecError:
                continue
        raise CodecError(f"{where} has the wrong type ({type(value).__name__})")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise CodecError(f"{where} must be a finite number")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise CodecError(f"{where} must be true or false")
    if hint is int:
        if type(value) is int:
            return value
        if type(value) is float and math.isfinite(value):
            return int(value)  # pixel boxes from another language's producer: truncated, as always
        raise CodecError(f"{where} must be an integer")
    if hint in (str, bytes):
        if type(value) is hint:
            return value
        raise CodecError(f"{where} must be {'a string' if hint is str else 'bytes'}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise CodecError(f"{where} must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise CodecError(f"{where} must have {len(args)} items")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise CodecError(f"{where} must be a map")
        return {
            coerce(k, args[0], f"{where} key"): coerce(v, args[1], f"{where}[{k!r}]")
            for k, v in value.items()
        }
    raise CodecError(f"{where}: no rule for {hint!r}")  # a field type this module does not know yet


def typed_fields(cls: type, obj: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The fields of `cls` present in `obj`, each checked and coerced; unknown keys (from a newer
    producer) dropped. Nested dataclass fields are left to the caller."""
    out: dict[str, Any] = {}
    for name, hint in field_hints(cls).items():
        if name not in obj:
            continue
        if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
            out[name] = obj[name]
            continue
        out[name] = coerce(obj[name], hint, f"{prefix}.{name}")
    return out
