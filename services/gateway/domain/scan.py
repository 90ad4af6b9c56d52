"""Planning Modbus reads: a gateway with thousands of tags must not make one request per tag.

Tags of one device (unit id), register table and scan period whose registers are close together are read in one
request of at most 125 registers (the Modbus limit for function codes 3 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from .registers import DataType, RegisterTable, WordOrder, register_count

MAX_REGISTERS_PER_READ = 125  # Modbus application protocol, function codes 3 and 4


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    tag_id: str
    unit_id: int
    table: RegisterTable
    address: int
    data_type: DataType
    word_order: WordOrder
    scale: float
    offset: float
    range_min: float  # the tag's valid range, in its own unit (network model)
    range_max: float
    scan_period_s: float

    @property
    def count(self) -> int:
        return register_count(self.data_type)


@dataclass(frozen=True, slots=True)
class ReadBlock:
    unit_id: int
    table: RegisterTable
    address: int
    count: int
    scan_period_s: float
    points: tuple[RegisterPoint, ...]


def plan_blocks(
    points: list[RegisterPoint], *, max_gap: int = 0, max_registers: int = MAX_REGISTERS_PER_READ
) -> list[ReadBlock]:
    """Group points into read blocks. ``max_gap``: unused registers a block may span between two points
    (0 by default: many devices answer ILLEGAL_ADDRESS for a read that touches an undefined register)."""
    groups: dict[tuple[int, RegisterTable, float], list[RegisterPoint]] = {}
    for point in points:
        groups.setdefault((point.unit_id, point.table, point.scan_period_s), []).append(point)
    blocks: list[ReadBlock] = []
    for (unit_id, table, period), members in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1], item[0][2])
    ):
        members.sort(key=lambda p: p.address)
        current: list[RegisterPoint] = []
        start = end = 0  # end: one past the last register of the block
        for point in members:
            point_end = point.address + point.count
            if current and point.address - end <= max_gap and point_end - start <= max_registers:
                current.append(point)
                end = max(end, point_end)
                continue
            if current:
                blocks.append(ReadBlock(unit_id, table, start, end - start, period, tuple(current)))
            current, start, end = [point], point.address, point_end
        if current:
            blocks.append(ReadBlock(unit_id, table, start, end - start, period, tuple(current)))
    return blocks
