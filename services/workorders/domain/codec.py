"""JSON codec for the domain's frozen dataclasses: event payloads and aggregate snapshots.

One generic, type-hint driven converter instead of hand-written ``to_dict``/``from_dict`` pairs, so a
new field cannot be forgotten on one side. Supported field types: ``str``, ``int``, ``float`` (finite),
``bool``, enums (stored by value), nested frozen dataclasses, ``X | None``, ``tuple[X, ...]``,
``frozenset[X]`` (stored sorted, so payloads are deterministic) and ``dict[K, V]`` (keys stored as text).

Reading is strict: unknown keys, missing required keys, wrong types, NaN and unknown enum values raise
``InvalidInput`` naming the path (``payload.alarm.leak_rate.rate_kg_per_s``). Reading an old schema is
the event store's upcasters' job; the codec only reads the current one.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from services.workorders.domain.errors import InvalidInput

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A JSON-serialisable copy of ``value`` (dicts, lists, str, int, finite float, bool, None)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"cannot serialise the non-finite number {value!r}")
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset | set):
        return sorted((to_json(v) for v in value), key=repr)
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(to_json(k)): to_json(v) for k, v in value.items()}
    raise InvalidInput(f"cannot serialise a {type(value).__name__}")


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return get_type_hints(cls)


def from_json(tp: Any, data: Any, where: str = "payload") -> Any:
    """Rebuild a value of type ``tp`` from ``to_json`` output; raises ``InvalidInput`` on garbage."""
    origin = get_origin(tp)
    if tp is Any:
        return data
    if origin is typing.Union or origin is types.UnionType:
        args = get_args(tp)
        if data is None:
            if type(None) in args:
                return None
            raise InvalidInput(f"{where} must not be null")
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise InvalidInput(f"{where}: unsupported union type {tp}")
        return from_json(options[0], data, where)
    if data is None:
        raise InvalidInput(f"{where} must not be null")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(data, bool):
            raise InvalidInput(f"{where}: {data!r} is not one of {[m.value for m in tp]}")
        try:
            return tp(data)
        except ValueError:
            raise InvalidInput(f"{where}: {data!r} is not one of {[m.value for m in tp]}") from None
    if tp is bool:
        if not isinstance(data, bool):
            raise InvalidInput(f"{where} must be a bool, not {type(data).__name__}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise InvalidInput(f"{where} must be an int, not {type(data).__name__}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise InvalidInput(f"{where} must be a number, not {type(data).__name__}")
        if not math.isfinite(data):
            raise InvalidInput(f"{where} must be finite, got {data!r}")
        return float(data)
    if tp is str:
        if not isinstance(data, str):
            raise InvalidInput(f"{where} must be a str, not {type(data).__name__}")
        return data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_from_json(tp, data, where)
    if origin is tuple:
        args = get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise InvalidInput(f"{where}: unsupported tuple type {tp}")
        if not isinstance(data, list | tuple):
            raise InvalidInput(f"{where} must be a list, not {type(data).__name__}")
        return tuple(from_json(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if origin is frozenset:
        (item_tp,) = get_args(tp)
        if not isinstance(data, list | tuple):
            raise InvalidInput(f"{where} must be a list, not {type(data).__name__}")
        return frozenset(from_json(item_tp, item, f"{where}[{i}]") for i, item in enumerate(data))
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{where} must be an object, not {type(data).__name__}")
        return {_key_from_json(key_tp, k, where): from_json(value_tp, v, f"{where}[{k!r}]") for k, v in data.items()}
    raise InvalidInput(f"{where}: unsupported type {tp}")


def _key_from_json(key_tp: Any, key: Any, where: str) -> Any:
    if not isinstance(key, str):
        raise InvalidInput(f"{where}: object keys must be text, got {key!r}")
    if key_tp is int or (isinstance(key_tp, type) and issubclass(key_tp, int)):
        try:
            number = int(key)
        except ValueError:
            raise InvalidInput(f"{where}: key {key!r} is not an integer") from None
        return from_json(key_tp, number, f"{where} key")
    return from_json(key_tp, key, f"{where} key")


def _dataclass_from_json(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where} must be an object, not {type(data).__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {unknown} for {cls.__name__}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = from_json(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InvalidInput(f"{where}: missing field {name!r} for {cls.__name__}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
