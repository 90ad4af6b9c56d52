"""A network of a given size for a deployment under load: the services' loader accepts it, every main is
fully instrumented, and sizes out of bounds are refused."""

from __future__ import annotations

from pathlib import Path

from loadtest.network import main

from services.network import TagKind, load_network


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
