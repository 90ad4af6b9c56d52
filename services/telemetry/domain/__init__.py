"""Pure telemetry logic: reading validation and SI normalisation, batch checks, the ack window."""

from .acks import AckWindow, BatchAck, BatchError, check_batch_shape
from .validation import (
    BatchValidation,
    Rejection,
    RejectReason,
    TagColumns,
    TagIndex,
    TagRule,
    ValidationLimits,
    summarize,
    to_si,
    validate_batch,
)

__all__ = [
    "AckWindow",
    "BatchAck",
    "BatchError",
    "BatchValidation",
    "RejectReason",
    "Rejection",
    "TagColumns",
    "TagIndex",
    "TagRule",
    "ValidationLimits",
    "check_batch_shape",
    "summarize",
    "to_si",
    "validate_batch",
]
