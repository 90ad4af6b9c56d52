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
# The meter is at the end of its range (the true value is beyond it): the value is its range limit, a bound on
# the truth, not a measurement of it. Evidence, never dropped: a flow pinned at the top of its range during a
# rupture says the flow is at least that. Telemetry sets it for values beyond a tag's range; gateways may too.
QUALITY_SATURATED = 4
QUALITY_MAX = QUALITY_SATURATED  # the codes are 0..QUALITY_MAX
# A value beyond a meter's range by up to this many spans is that meter saturated (a transmitter pins at its range
# end; a 4-20 mA loop reads at most 3 % over, NAMUR NE 43); farther out no meter reads it: a scaling or gateway
# fault, refused as out of range. Telemetry and the detector's kernels both apply it.
SATURATION_MARGIN_SPANS = 1.0


class Quality(enum.IntEnum):
    UNSPECIFIED = QUALITY_UNSPECIFIED
    GOOD = QUALITY_GOOD
    UNCERTAIN = QUALITY_UNCERTAIN
    BAD = QUALITY_BAD
    SATURATED = QUALITY_SATURATED


# What telemetry accepts onto the readings topic (BAD readings are rejected at the edge).
USABLE_QUALITIES = frozenset((QUALITY_UNSPECIFIED, QUALITY_GOOD, QUALITY_UNCERTAIN, QUALITY_SATURATED))
