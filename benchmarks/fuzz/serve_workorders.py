"""``python -m benchmarks.fuzz.serve_workorders SCRATCH``: the workorders API for ``make fuzz`` in a process of its own.

Wired as ``WorkOrdersTarget`` wired it in the fuzzer's process (``build_runtime`` on a SQLite event store with a few
open work orders, ``GrpcServer`` with the project's test key set), so that the server and the fuzzer each have a
core and an interpreter lock of their own: in one process, gRPC's per-call work on both sides shared one lock and
the server waited for the client half of the time. Prints one JSON line (address, the work orders' ids, a token per
caller ``role@district``; the key pair is this process's own) and serves until its stdin closes.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

TOKEN_TTL_S = 3 * 3600


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.fuzz.serve_workorders SCRATCH_DIR", file=sys.stderr)
        return 64
    # Every refusal is logged at WARNING: 10^5 of them would cost more than the calls.
    logging.basicConfig(level=logging.ERROR)
    from services.network import load_demo_network
    from services.workorders.adapters.alarms import alarm_facts
    from services.workorders.bootstrap import build_runtime
    from services.workorders.domain.workorder import work_order_id_for_alarm
    from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
    from tests.support.workorders_api import VERIFIER, alarm, token

    from .grpc_targets import ROLES

    scratch = Path(args[0])
    scratch.mkdir(parents=True, exist_ok=True)
    network = load_demo_network()
    runtime = build_runtime(f"sqlite:///{scratch}/fuzz-workorders.sqlite3", network=network)
    runtime.start_projection_loop(0.05)
    order_ids = []
    for i, segment in enumerate(list(network.segments.values())[:6]):
        alarm_id = f"FUZZ-{i}"
        runtime.app.handle_alarm(alarm_facts(alarm(alarm_id, segment.segment_id, segment.district)), f"{alarm_id}/0")
        order_ids.append(work_order_id_for_alarm(alarm_id))
    runtime.runner.run_until_caught_up()
    server = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER), "127.0.0.1:0").start()
    districts = sorted({s.district for s in network.segments.values()})
    tokens = {f"{role}@{district}": token(role, [district], subject=f"fuzz-{role}", ttl_s=TOKEN_TTL_S)
              for role in ROLES for district in [*districts, "*"]}
    print(json.dumps({"address": str(server.address), "order_ids": order_ids, "tokens": tokens}), flush=True)
    try:
        sys.stdin.read()  # until the fuzzer closes it (or dies)
    finally:
        server.stop(1.0)
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
