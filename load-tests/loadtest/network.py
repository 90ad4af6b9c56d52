"""``python -m loadtest.network --gateways N --segments-per-gateway S --out FILE``: a network file of a given
size for a deployment under load (its ``network_file:``), when the target's own network is too small.

Each gateway owns a chain of S distribution mains (PE, 1 km) fed from one supply node; every main is
fully instrumented as the demo city's are: pressure (1 s) and mass flow (1 s) at both ends, temperature
(10 s) upstream. `make up` with it generates a token per gateway; `make loadtest` reads the network from
the deployment file. No gw-transmission: no leak is replayed into such a network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

import loadtest  # noqa: F401  (puts the repository on sys.path)
from services.network import load_network

DISTRICT = "loadtest"


def document(gateways: int, segments_per_gateway: int) -> dict[str, Any]:
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
                             "unit": "kPa_g", "range": [0.0, 600.0], "scan_period_s": 1.0, "gateway": gateway,
                             "accuracy": {"pct_of_span": 0.1}})
                tags.append({"id": f"{segment}-FT-{end}", "segment": segment, "position_km": km, "kind": "flow",
                             "unit": "kg/h", "range": [0.0, 36000.0], "scan_period_s": 1.0, "gateway": gateway,
                             "accuracy": {"pct_of_reading": 1.0}})
            tags.append({"id": f"{segment}-TT-UP", "segment": segment, "position_km": 0.0, "kind": "temperature",
                         "unit": "degC", "range": [-40.0, 60.0], "scan_period_s": 10.0, "gateway": gateway,
                         "accuracy": {"absolute": 0.5}})
            previous = node
    return {"name": f"loadtest-{gateways}x{segments_per_gateway}",
            "gas": {"specific_gravity": 0.6, "temperature_k": 283.15},
            "nodes": nodes, "segments": segments, "gateways": gws, "tags": tags}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.network", description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, required=True)
    parser.add_argument("--segments-per-gateway", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not 1 <= args.gateways <= 1000 or not 1 <= args.segments_per_gateway <= 100:
        print("loadtest.network: error: --gateways must be 1..1000 and --segments-per-gateway 1..100",
              file=sys.stderr)
        return 2
    text = yaml.safe_dump(document(args.gateways, args.segments_per_gateway), sort_keys=False)
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"loadtest.network: error: {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    network = load_network(args.out)  # the services' own loader accepts it, or this fails loudly
    print(f"{args.out}: {len(network.gateways)} gateways, {len(network.segments)} segments, "
          f"{len(network.tags)} tags")
    return 0


if __name__ == "__main__":
    sys.exit(main())
