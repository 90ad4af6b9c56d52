"""The service's detector adapter: configured by the core's one builder, events come out named."""

from __future__ import annotations

from services.leakdetect.adapters.core_detector import CoreDetector
from services.leakdetect.domain import Pipeline
from services.leakdetect.domain import network_config as NC
from services.network import load_demo_network

NET = load_demo_network()


def test_the_service_adapter_uses_the_one_builder() -> None:
    core = CoreDetector(NET)
    for sid in list(NET.segments)[:6]:
        built = NC.config_from_network(NET, segment_ids=[sid])
        state = core.new_state(sid)
        assert isinstance(state, Pipeline)  # the service's way in is the public facade
        assert (state.config.seg_cfg == built.config.seg_cfg).all()
        assert (state.config.slot_cfg == built.config.slot_cfg).all()
        assert dict(core.tag_roles(sid)) == built.tag_role
