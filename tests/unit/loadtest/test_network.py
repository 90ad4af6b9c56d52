"""A network of a given size for a deployment under load: the services' loader accepts it, every main is
fully instrumented, and sizes out of bounds are refused; a network for a rate reads that rate at its tags' scan
rates and embeds the demo city for the leak."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtest import leak
from loadtest.cli import beyond_scan_rates
from loadtest.network import main
from loadtest.profiles import PROFILES

from services.network import TagKind, load_demo_network, load_network


def test_a_generated_network_loads_with_every_main_instrumented(tmp_path: Path) -> None:
    out = tmp_path / "net.yaml"
    assert main(["--gateways", "3", "--segments-per-gateway", "2", "--out", str(out)]) == 0
    network = load_network(out)
    assert len(network.gateways) == 3 and len(network.segments) == 6
    for segment in network.segments:
        kinds = sorted(t.kind.value for t in network.tags_of_segment(segment))
        assert kinds == sorted([TagKind.PRESSURE.value] * 2 + [TagKind.FLOW.value] * 2 + [TagKind.TEMPERATURE.value])
    assert all(len(network.tags_of_gateway(g)) == 10 for g in network.gateways)


def test_sizes_out_of_bounds_and_unwritable_files_are_refused(tmp_path: Path) -> None:
    assert main(["--gateways", "0", "--out", str(tmp_path / "x.yaml")]) == 2
    assert main(["--gateways", "2", "--segments-per-gateway", "1000", "--out", str(tmp_path / "x.yaml")]) == 2
    assert main(["--gateways", "2", "--out", str(tmp_path / "missing" / "x.yaml")]) == 2
    assert not (tmp_path / "x.yaml").exists()


def test_a_network_for_a_rate_reads_it_at_its_scan_rates_with_the_demo_city_for_the_leak(tmp_path: Path) -> None:
    out = tmp_path / "net.yaml"
    assert main(["--rate", "2000", "--out", str(out)]) == 0
    network = load_network(out)
    load = [g for g in network.gateways if g != "gw-transmission"]
    scan = sum(1.0 / t.scan_period_s for g in load for t in network.tags_of_gateway(g))
    assert 2000 <= scan < 2000 + 64 * 22.1  # at most one gateway's worth of mains beyond the rate
    # the demo city unchanged (the leak's physics runs on it alone): its gateways, tags and transmission line
    demo = load_demo_network()
    assert set(demo.gateways) <= set(network.gateways)
    assert network.tags_of_gateway("gw-transmission") == demo.tags_of_gateway("gw-transmission")
    assert all(network.segments[s] == demo.segments[s] for s in demo.segments)

    class Deployment:
        network_file = str(out)

    class Target:
        deployment = Deployment()

    Target.network = network  # type: ignore[attr-defined]
    assert leak.physics_network_file(Target()) is None  # type: ignore[arg-type]
    # the soak at this rate sends each tag about once per scan period; on the demo city alone ~470 times
    soak = PROFILES["soak"].with_overrides(2000, None)
    assert beyond_scan_rates(soak, network, load) <= 1.0
    assert beyond_scan_rates(PROFILES["soak"], demo, ["gw-ds-01", "gw-eh-01", "gw-kb-01"]) > 400


def test_a_rate_that_is_not_a_usable_number_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.yaml"
    for rate in ("0", "-5", "nan", "inf", "2000000"):
        assert main(["--rate", rate, "--out", str(out)]) == 2, rate
    with pytest.raises(SystemExit) as caught:  # argparse: not a number at all
        main(["--rate", "fast", "--out", str(out)])
    assert caught.value.code == 2
    assert not out.exists()
