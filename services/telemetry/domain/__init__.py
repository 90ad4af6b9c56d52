"""Pure telemetry logic: reading validation and SI normalisation, batch checks, size limits, the ack window."""

from .acks import AckWindow, BatchAck, BatchError, check_batch_shape
from .limits import (
    MAX_GATEWAY_ID_BYTES,
    MAX_QUOTED_CHARS,
    MAX_REJECT_DETAIL_CHARS,
    MAX_TAG_ID_BYTES,
    max_request_bytes,
)
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
    "MAX_GATEWAY_ID_BYTES",
    "MAX_QUOTED_CHARS",
    "MAX_REJECT_DETAIL_CHARS",
    "MAX_TAG_ID_BYTES",
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
    "max_request_bytes",
    "summarize",
    "to_si",
    "validate_batch",
]
