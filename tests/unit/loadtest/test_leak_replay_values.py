"""The leak replay's readings are sampled before it sends anything, vectorised (loadtest.leakinject.precompute with
services.gasflow's SimulatedValues.sample_many): every reading a gateway's batch builder asks for during the replay
is there, on the tag's scan grid, and it is the simulator's own value (noise off: exactly what one call a time
gives; noise on: the same fixed bias, noise of the stated size)."""

from __future__ import annotations

import numpy as np
import pytest
from loadtest.leakinject import precompute

from services.fieldsim import BatchBuilder
from services.gasflow import LeakSpec
from services.gasflow.fieldsource import SimulatedValues
from services.network import load_demo_network

GATEWAY = "gw-transmission"
START = 1_796_575_092.0  # a replay's start as the load tester plans it (whole seconds)
SPAN_S = 420.0  # two simulation chunks and a bit: the chunk change is crossed


@pytest.fixture(scope="module")
def network():  # type: ignore[no-untyped-def]
    return load_demo_network()


def _values(network, noise: bool) -> SimulatedValues:  # type: ignore[no-untyped-def]
    values = SimulatedValues(network, seed=5, noise=noise,
                             leaks=(LeakSpec("TR-03", 3000.0, START + 200.0, rate_kg_per_s=3.0),))
    values.true_value_si(network.tags_of_gateway(GATEWAY)[0], START - values.chunk_s)  # as leakinject starts it
    return values


@pytest.fixture(scope="module")
def clean(network):  # type: ignore[no-untyped-def]
    return precompute(network, _values(network, noise=False), GATEWAY, START, START + SPAN_S)


def _replayed(network, recorded) -> list[tuple[str, float, float]]:  # type: ignore[no-untyped-def]
    """(tag, time, value) of every reading a replay's builder sends, in 10-s batches, from the recorded values."""
    builder = BatchBuilder(GATEWAY, network.tags_of_gateway(GATEWAY), recorded, first_sequence=1)
    out, at = [], START
    while True:
        batch = builder.build(at)
        if batch is not None:
            out += [(r.tag_id, r.source_time_unix_us / 1e6, r.value) for r in batch.readings]
        if at >= START + SPAN_S:
            return out
        at = min(at + 10.0, START + SPAN_S)


def test_every_reading_of_the_replay_is_the_simulators_own_value(network, clean) -> None:  # type: ignore[no-untyped-def]
    replayed = _replayed(network, clean)
    tags = network.tags_of_gateway(GATEWAY)
    # every tag at its scan rate over the span (10 Hz pressures, 1 s flows, 10 s temperatures)
    assert len(replayed) == sum(int(SPAN_S / t.scan_period_s) + 1 for t in tags)
    one_at_a_time = _values(network, noise=False)
    by_id = {t.tag_id: t for t in tags}
    expected = [one_at_a_time.sample(by_id[tag], time_s) for tag, time_s, _ in replayed]
    # the values are at the grid's times; the builder's running sum of periods stamps them microseconds apart at most
    assert [v for _, _, v in replayed] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_with_noise_each_tag_keeps_its_bias_and_its_stated_noise(network, clean) -> None:  # type: ignore[no-untyped-def]
    noisy = precompute(network, _values(network, noise=True), GATEWAY, START, START + SPAN_S)
    for tag in network.tags_of_gateway(GATEWAY):
        if tag.scan_period_s > 1.0 or tag.kind not in ("pressure", "flow"):
            continue
        first, period, values = noisy.grid[tag.tag_id]
        assert (first, period) == clean.grid[tag.tag_id][:2]
        error = values - clean.grid[tag.tag_id][2]
        span = tag.range_max - tag.range_min
        assert np.std(error) > 0  # noisy
        assert abs(np.mean(error)) < 0.05 * span and np.std(error) < 0.05 * span  # small, as the meter states
