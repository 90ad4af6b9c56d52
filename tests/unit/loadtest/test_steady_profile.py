"""The steady profile runs where every tag sends at its own scan rate: it refuses the demo city at 50,000
readings/s (each tag would send 784x), its network arguments make a network that reads the rate at its scan rates,
and deploy/local/steady.yaml runs on that network. Its gateways are spread over the batch interval."""

from __future__ import annotations

import shlex
from pathlib import Path

from loadtest import REPO
from loadtest.cli import MAX_OVER_SCAN, beyond_scan_rates
from loadtest.fleet import phase_slots
from loadtest.network import main
from loadtest.profiles import PROFILES

from deploy.local.config import load as load_deployment
from services.network import load_demo_network, load_network

DEMO_LOAD_GATEWAYS = ["gw-ds-01", "gw-eh-01", "gw-kb-01"]


def test_steady_refuses_the_demo_city_and_its_network_reads_the_rate_at_scan_rates(tmp_path: Path) -> None:
    steady = PROFILES["steady"]
    assert steady.at_scan_rates and steady.batch_interval_s == 1.0
    assert beyond_scan_rates(steady, load_demo_network(), DEMO_LOAD_GATEWAYS) > MAX_OVER_SCAN
    # the profile's own network arguments, at a tenth of the rate (the same shape, a tenth of the mains)
    args = shlex.split(steady.network_args)
    args[args.index("--rate") + 1] = str(steady.rate / 10)
    args[args.index("--out") + 1] = str(tmp_path / "net.yaml")
    assert main(args) == 0
    network = load_network(tmp_path / "net.yaml")
    load = [g for g in sorted(network.gateways) if g != "gw-transmission"]
    # each tag at most its scan rate (mains are rounded up to whole gateways: a little below it)
    assert 0.8 <= beyond_scan_rates(steady.with_overrides(steady.rate / 10, None), network, load) <= 1.0
    pressure = {t.scan_period_s for g in load for t in network.tags_of_gateway(g) if t.kind.value == "pressure"}
    assert 0.01 in pressure


def test_the_steady_deployment_file_runs_on_the_network_the_profile_names() -> None:
    deployment = load_deployment(REPO / "deploy" / "local" / "steady.yaml")
    args = shlex.split(PROFILES["steady"].network_args)
    assert deployment.network_file == REPO / args[args.index("--out") + 1]
    assert deployment.data_dir != load_deployment(REPO / "deploy" / "local" / "pipewarden.yaml").data_dir


def test_gateways_are_spread_over_the_batch_interval() -> None:
    streams = list(range(35))
    slots = phase_slots(streams, 1.0)
    assert len(slots) == 35 and all(len(s) == 1 for s in slots)  # one gateway every ~29 ms
    slots = phase_slots(list(range(40)), 0.1)
    assert len(slots) == 10 and sorted(x for s in slots for x in s) == list(range(40))  # each once, 10-ms phases
    assert phase_slots([1, 2, 3], 0.1) == [[1], [2], [3]]
    assert phase_slots([1, 2, 3], 0.001) == [[1, 2, 3]]  # shorter than a phase: all at once
    assert phase_slots([], 1.0) == [[]]
