"""``python -m loadtest.network --rate R --out FILE`` (or ``--gateways N --segments-per-gateway S``): a network
file of a given size for a deployment under load (its ``network_file:``), when the target's own network is too
small for the rate: the load tester spreads the offered rate over the network's tags by their scan rates, so on
a network whose tags read R readings/s at their scan rates each tag sends at its own scan rate, as a real field
does. (30,000 readings/s over the demo city's 64 readings/s of district tags sends each ~470 times as often:
leakdetect's sensor health rightly reads that as implausible rates of change, and workorders makes a hazard of
each, ~24,000 in a 10-minute soak: a soak then measures a flood of hazards, not the system.)

Each gateway owns a chain of S distribution mains (PE, 1 km) fed from one supply node; every main is
fully instrumented as the demo city's are: pressure at both ends (every --pressure-scan-s: 1 s as the demo
city's districts, 0.1 s as its transmission line's, for the pressure-wave method), mass flow (1 s) at both ends,
temperature (10 s) upstream. With --rate the mains are as many as that rate needs at their scan rates (pressure
every 0.1 s unless given, 64 mains a gateway), and the demo city is embedded unchanged (its own supply, not
connected to the generated mains), so that the load test's leak is replayed through its gw-transmission
(the leak's physics runs on the demo city alone). `make up` with it generates a token per gateway; `make
loadtest` reads the network from the deployment file.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import yaml

import loadtest  # puts the repository on sys.path
from services.network import load_network

DISTRICT = "loadtest"
DEMO_CITY = Path(loadtest.REPO) / "services" / "network" / "data" / "demo_city.yaml"


def document(gateways: int, segments_per_gateway: int, pressure_scan_s: float = 1.0,
             with_demo_city: bool = False) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "SRC", "kind": "supply", "district": DISTRICT, "elevation_m": 0.0,
                                    "supply_pressure_pa": 501325.0}]
    segments: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    gws: list[dict[str, Any]] = []
    for g in range(gateways):
        gateway = f"gw-lt-{g:03d}"
        gws.append({"id": gateway, "district": DISTRICT})
        previous = "SRC"
        for s in range(segments_per_gateway):
            node, segment = f"LT{g:03d}-N{s}", f"LT{g:03d}-M{s:02d}"
            nodes.append({"id": node, "kind": "junction", "district": DISTRICT, "elevation_m": 0.0})
            segments.append({
                "id": segment, "district": DISTRICT, "from_node": previous, "to_node": node, "length_km": 1.0,
                "inner_diameter_mm": 200.0, "roughness_mm": 0.05, "elevation_up_m": 0.0, "elevation_down_m": 0.0,
                "material": "PE", "install_year": 2020, "pressure_class": "medium_A",
                "max_operating_pressure_pa": 501325.0, "pipe_class": "municipal", "nominal_flow_kg_per_s": 1.0,
            })
            for end, km in (("UP", 0.0), ("DN", 1.0)):
                tags.append({"id": f"{segment}-PT-{end}", "segment": segment, "position_km": km, "kind": "pressure",
                             "unit": "kPa_g", "range": [0.0, 600.0], "scan_period_s": pressure_scan_s,
                             "gateway": gateway, "accuracy": {"pct_of_span": 0.1}})
                tags.append({"id": f"{segment}-FT-{end}", "segment": segment, "position_km": km, "kind": "flow",
                             "unit": "kg/h", "range": [0.0, 36000.0], "scan_period_s": 1.0, "gateway": gateway,
                             "accuracy": {"pct_of_reading": 1.0}})
            tags.append({"id": f"{segment}-TT-UP", "segment": segment, "position_km": 0.0, "kind": "temperature",
                         "unit": "degC", "range": [-40.0, 60.0], "scan_period_s": 10.0, "gateway": gateway,
                         "accuracy": {"absolute": 0.5}})
            previous = node
    doc: dict[str, Any] = {"name": f"loadtest-{gateways}x{segments_per_gateway}",
                           "gas": {"specific_gravity": 0.6, "temperature_k": 283.15},
                           "nodes": nodes, "segments": segments, "gateways": gws, "tags": tags}
    if with_demo_city:
        demo = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
        doc = {"name": f"demo-city+{doc['name']}", "gas": demo["gas"],
               **{k: demo[k] + doc[k] for k in ("nodes", "segments", "gateways", "tags")}}
    return doc


def main_readings_per_s(pressure_scan_s: float) -> float:
    """Readings/s of one generated main at its tags' scan rates (2 pressures, 2 flows at 1 s, a temperature at 10 s)."""
    return 2.0 / pressure_scan_s + 2.0 + 0.1


def for_rate(rate: float, segments_per_gateway: int = 64, pressure_scan_s: float = 0.1) -> dict[str, Any]:
    """A network whose load gateways (all but the demo city's gw-transmission, which replays the leak) read at
    least ``rate`` readings/s at their tags' scan rates: the demo city and as many generated mains as needed."""
    demo = load_network(DEMO_CITY)
    demo_load = sum(1.0 / t.scan_period_s for g in demo.gateways if g != "gw-transmission"
                    for t in demo.tags_of_gateway(g))
    mains = max(1, math.ceil((rate - demo_load) / main_readings_per_s(pressure_scan_s)))
    gateways = math.ceil(mains / segments_per_gateway)
    return document(gateways, math.ceil(mains / gateways), pressure_scan_s, with_demo_city=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.network", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--rate", type=float, help="readings/s the load gateways' tags give at their scan rates "
                      "(the demo city embedded, for the leak)")
    size.add_argument("--gateways", type=int)
    parser.add_argument("--segments-per-gateway", type=int, default=None, help="default: 4 (--rate: 64)")
    parser.add_argument("--pressure-scan-s", type=float, default=None, help="default: 1 (--rate: 0.1)")
    parser.add_argument("--with-demo-city", action="store_true", help="embed the demo city (--rate does)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    per_gateway = args.segments_per_gateway or (64 if args.rate else 4)
    pressure_scan_s = args.pressure_scan_s or (0.1 if args.rate else 1.0)
    if not (1 <= per_gateway <= 100 and 0.01 <= pressure_scan_s <= 60
            and (args.rate is None or 1 <= args.rate <= 1_000_000)
            and (args.gateways is None or 1 <= args.gateways <= 1000)):
        print("loadtest.network: error: --gateways must be 1..1000, --rate 1..1,000,000, --segments-per-gateway "
              "1..100 and --pressure-scan-s 0.01..60", file=sys.stderr)
        return 2
    doc = (for_rate(args.rate, per_gateway, pressure_scan_s) if args.rate else
           document(args.gateways, per_gateway, pressure_scan_s, args.with_demo_city))
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"loadtest.network: error: {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    network = load_network(args.out)  # the services' own loader accepts it, or this fails loudly
    scan = sum(1.0 / t.scan_period_s for t in network.tags.values())
    print(f"{args.out}: {len(network.gateways)} gateways, {len(network.segments)} segments, "
          f"{len(network.tags)} tags, {scan:,.0f} readings/s at their scan rates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
