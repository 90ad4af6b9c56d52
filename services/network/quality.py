"""Quality codes of a reading: the one definition of ``pipewarden.telemetry.v1.Quality`` in Python.

Telemetry validates them, the SCADA layer of the gas simulator sets them and leakdetect's kernels read them.
Plain integers, so that numba compiles them in as constants; `Quality` names them elsewhere. A unit test
keeps the numbers in step with the protobuf enum.
"""

from __future__ import annotations

import enum

QUALITY_UNSPECIFIED = 0  # the gateway sent no flag: taken as good
QUALITY_GOOD = 1
QUALITY_UNCERTAIN = 2  # clipped or out of calibration: wrong for a balance, still a methane alarm
QUALITY_BAD = 3
QUALITY_MAX = QUALITY_BAD  # the codes are 0..QUALITY_MAX


class Quality(enum.IntEnum):
    UNSPECIFIED = QUALITY_UNSPECIFIED
    GOOD = QUALITY_GOOD
    UNCERTAIN = QUALITY_UNCERTAIN
    BAD = QUALITY_BAD


# What telemetry accepts onto the readings topic (BAD readings are rejected at the edge).
USABLE_QUALITIES = frozenset((QUALITY_UNSPECIFIED, QUALITY_GOOD, QUALITY_UNCERTAIN))
