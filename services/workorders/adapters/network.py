"""The network model (``services.network``) behind the service layer's ``NetworkFacts`` port.

``NetworkSegments.segment(id)`` gives the domain's ``SegmentContext`` of a segment (None when the model
has no such segment); ``segment_context`` converts one network ``Segment``.
"""

from __future__ import annotations

from services.network.model import Network, Segment
from services.workorders.domain.alarm import SegmentContext


def segment_context(segment: Segment, *, near_buildings: bool = False) -> SegmentContext:
    return SegmentContext(
        segment_id=segment.segment_id,
        district=segment.district,
        pipe_class=segment.pipe_class,
        material=segment.material,
        length_km=segment.length_m / 1000.0,
        install_year=segment.install_year,
        near_buildings=near_buildings,
    )


class NetworkSegments:
    """``NetworkFacts`` over a loaded network model (contexts built once per segment: they are immutable)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._contexts: dict[str, SegmentContext] = {}

    def segment(self, segment_id: str) -> SegmentContext | None:
        context = self._contexts.get(segment_id)
        if context is None:
            segment = self.network.segments.get(segment_id)
            if segment is None:
                return None
            context = self._contexts[segment_id] = segment_context(segment)
        return context
