"""The service publishes a redundant meter's failure on leak.sensor-health.v1 under that meter's tag, with why
(the adapter the service uses, then its alarm tracker)."""

from __future__ import annotations

import numpy as np

from services.leakdetect.adapters.core_detector import CoreDetector
from services.leakdetect.domain import events as E
from services.leakdetect.domain.kernels.redundancy import HEALTH_OUTVOTED
from services.leakdetect.service_layer.alarms import AlarmPolicy, AlarmTracker, SegmentInfo, SegmentRuntime

from .scenario import FT_UP, PT_UP, SEG, network, readings


def test_the_failed_member_is_published_under_its_own_tag() -> None:
    groups = {FT_UP: 3, PT_UP: 2}
    detector = CoreDetector(network(groups))
    tags = detector.detector_tags(SEG)
    assert {"TR-01-FT-UP-B", "TR-01-FT-UP-C", "TR-01-PT-UP-B"} <= set(tags)  # the service keys readings by these
    assert detector.role_tags(SEG)[0] == FT_UP  # the role's tag is the group's primary
    tag, t, v = readings(3600, groups, ("TR-01-FT-UP-C", "drift", 1800.0))
    index = {x: i for i, x in enumerate(tags)}
    keep = np.array([x in index for x in tag])
    idx = np.array([index[x] for x in tag[keep]], np.int16)
    t, v = t[keep], v[keep]
    state = detector.new_state(SEG)
    events: list[E.DetectorEvent] = []
    for a in range(0, t.size, 20_000):
        events += detector.feed(SEG, state, idx[a:a + 20_000], t[a:a + 20_000], v[a:a + 20_000],
                                np.ones(min(20_000, t.size - a), np.int8))
    tracker = AlarmTracker(AlarmPolicy(hold_us=1_800_000_000, update_min_interval_us=60_000_000,
                                       onset_bucket_us=60_000_000, history_per_segment=50), lambda: 0)
    info = SegmentInfo(SEG, "Dongsheng", 6200.0, 4.5, dict(detector.role_tags(SEG)), {}, {})
    out = tracker.apply(info, SegmentRuntime(SEG), events, int(t[-1]), segment_mdlr_kg_per_s=0.1)
    member = [h for h in out.health if h.tag_id.startswith(FT_UP) and h.health != 1]  # not the roles going OK
    assert [(h.tag_id, int(h.health)) for h in member] == [("TR-01-FT-UP-C", HEALTH_OUTVOTED)]
    assert "off its redundant partners" in member[0].detail and member[0].event_id.startswith("TR-01-FT-UP-C/")
    status = detector.status(SEG, state)
    assert status.tag_health["TR-01-FT-UP-C"] == HEALTH_OUTVOTED and status.tag_health[FT_UP] == 1
