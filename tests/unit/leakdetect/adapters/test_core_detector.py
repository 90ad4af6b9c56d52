"""The service's detector adapter: configured by the core's one builder, events come out named."""

from __future__ import annotations

from services.leakdetect.adapters.core_detector import CoreDetector
from services.leakdetect.domain import Pipeline
from services.leakdetect.domain import network_config as NC
from services.leakdetect.domain.kernels.driver import advance_kernel, process_kernel
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


def test_warm_up_runs_the_stream_path_without_touching_any_segment() -> None:
    # the service calls it before it says it is ready (the first batch must not wait for the compiler)
    core = CoreDetector(NET)
    sid = next(iter(NET.segments))
    before = core.new_state(sid).to_bytes()
    core.warm_up()
    assert process_kernel.signatures and advance_kernel.signatures  # compiled (or loaded from the cache)
    assert core.new_state(sid).to_bytes() == before  # a throwaway copy: the templates stay fresh
