"""The gateway's pure logic: register decoding and scaling, read planning, quality rules, the send plan
(lanes, pending batch ranges, refusal handling) and pacing. No I/O, no clock: times come in as arguments."""

from .batches import BatchRange, Failure, FailureAction, LanePlan, PendingRanges, TokenBucket, action_for
from .readings import Reading
from .registers import DATA_TYPES, DataType, RegisterTable, WordOrder, decode_registers, register_count
from .scan import ReadBlock, RegisterPoint, plan_blocks

__all__ = [
    "DATA_TYPES",
    "BatchRange",
    "DataType",
    "Failure",
    "FailureAction",
    "LanePlan",
    "PendingRanges",
    "ReadBlock",
    "Reading",
    "RegisterPoint",
    "RegisterTable",
    "TokenBucket",
    "WordOrder",
    "action_for",
    "decode_registers",
    "plan_blocks",
    "register_count",
]
