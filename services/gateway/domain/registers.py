"""Modbus register decoding: data types, word order, scale and offset, and the quality of the result.

Decoded with ``struct`` directly rather than pymodbus's converter: one call per block of registers, and the
domain stays free of protocol libraries.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence

from services.network.quality import (
    QUALITY_BAD,
    QUALITY_GOOD,
    QUALITY_SATURATED,
    QUALITY_UNCERTAIN,
    SATURATION_MARGIN_SPANS,
)


class DataType(enum.StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"


class WordOrder(enum.StrEnum):
    BIG = "big"  # most significant register first (Modbus convention)
    LITTLE = "little"  # least significant register first (many PLCs)


class RegisterTable(enum.StrEnum):
    HOLDING = "holding"  # function code 3
    INPUT = "input"  # function code 4


DATA_TYPES = tuple(t.value for t in DataType)
_FORMAT = {
    DataType.INT16: ("h", 1),
    DataType.UINT16: ("H", 1),
    DataType.INT32: ("i", 2),
    DataType.UINT32: ("I", 2),
    DataType.FLOAT32: ("f", 2),
    DataType.FLOAT64: ("d", 4),
}


def register_count(data_type: DataType) -> int:
    return _FORMAT[data_type][1]


def decode_registers(registers: Sequence[int], data_type: DataType, word_order: WordOrder) -> float:
    """The raw number held by ``registers`` (exactly ``register_count`` of them; bytes within a register are
    big-endian, as Modbus defines)."""
    code, count = _FORMAT[data_type]
    if len(registers) != count:
        raise ValueError(f"{data_type} needs {count} register(s), got {len(registers)}")
    words = list(registers) if word_order is WordOrder.BIG else list(registers)[::-1]
    return float(struct.unpack(">" + code, struct.pack(f">{count}H", *words))[0])


def scaled_reading(raw: float, scale: float, offset: float, range_min: float, range_max: float) -> tuple[float, int]:
    """Engineering value and quality.

    Non-finite values are BAD (and replaced by ``range_min``, so that telemetry rejects them for their quality, not
    as NaN). Beyond the tag's range by up to ``SATURATION_MARGIN_SPANS`` the meter is saturated: SATURATED, sent as
    read (telemetry takes it as a bound at the range end). Farther out no meter reads it (a scaling or wiring
    fault): UNCERTAIN and sent as read, so telemetry rejects it as OUT_OF_RANGE with the real number visible.
    """
    value = raw * scale + offset
    if not math.isfinite(value):
        return range_min, QUALITY_BAD
    if range_min <= value <= range_max:
        return value, QUALITY_GOOD
    margin = SATURATION_MARGIN_SPANS * (range_max - range_min)
    if range_min - margin <= value <= range_max + margin:
        return value, QUALITY_SATURATED
    return value, QUALITY_UNCERTAIN
