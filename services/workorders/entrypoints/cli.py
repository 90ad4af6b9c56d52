"""``python -m services.workorders``: ``serve``, ``ctl ...``, ``report <name>``, ``rebuild``.

Parses the command line and hands over to the composition root (``services.workorders.bootstrap``);
``ctl`` is the API's command-line client (``entrypoints/ctl.py``): people and scripts act through the
gRPC API with their own token, so they get the same refusals as the console. ``report`` and ``rebuild``
open the database directly (operators, on the service's host).

Exit codes: 0 ok, 2 bad arguments or configuration (argparse), 1 runtime failure (database unreachable).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from services.workorders.adapters.queries import REPORTS
from services.workorders.config import ConfigError, WorkOrdersConfig
from services.workorders.entrypoints.tables import chart_columns, format_table, write_bar_chart

log = logging.getLogger(__name__)


def _parser(config: WorkOrdersConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.workorders", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the gRPC API, alarm and sensor-health consumers, read models, SLA and hazard tickers, outbox relay",
    )
    serve.add_argument("--db", default=config.db_url, help="event store URL (PIPEWARDEN_WORKORDERS_DB_URL)")
    serve.add_argument("--address", default=config.grpc_address, help="host:port to listen on")
    serve.add_argument("--dev", action="store_true",
                       help="development only: without PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE, use throwaway keys")
    sub.add_parser(
        "ctl",
        help="the API's command-line client (list, show, dispatch, ..., report, watch): ctl --help",
        add_help=False,
    )
    report = sub.add_parser("report", help="print a read-model report as a table, from the database directly")
    report.add_argument("name", choices=REPORTS)
    report.add_argument("--db", default=config.db_url, help="event store URL (PIPEWARDEN_WORKORDERS_DB_URL)")
    report.add_argument("--png", type=Path, help="also write a bar chart PNG here")
    rebuild = sub.add_parser("rebuild", help="replay every event from position 0 into fresh read models")
    rebuild.add_argument("--db", default=config.db_url, help="event store URL (PIPEWARDEN_WORKORDERS_DB_URL)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = WorkOrdersConfig.from_env()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ctl"]:
        from services.workorders.entrypoints import ctl

        return ctl.main(argv[1:])
    args = _parser(config).parse_args(argv)
    from services.workorders import bootstrap

    if args.command == "serve":
        return bootstrap.serve(config, db_url=args.db, address=args.address, dev=args.dev)
    from services.workorders.domain.hazard import SignOffPolicy

    try:
        runtime = bootstrap.build_runtime(
            args.db,
            network_file=config.network_file,
            sign_off=SignOffPolicy(level_roles=config.sign_off_levels),
            report_utc_offset_s=round(config.report_utc_offset_h * 3600),
        )
    except Exception as error:  # unreachable database, bad URL
        print(f"error: cannot open the event store {args.db!r}: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    try:
        if args.command == "rebuild":
            applied = runtime.runner.rebuild()
            print(f"rebuilt read models from {applied} event(s); checkpoint {runtime.runner.checkpoint()}")
            return 0
        runtime.runner.run_until_caught_up()
        table, as_of = runtime.app.queries.report(
            args.name, now_unix_us=runtime.app.clock(), districts=None
        )
        print(format_table(table))
        print(f"(as of global position {as_of})")
        if args.png is not None:
            label, values = chart_columns(table)
            write_bar_chart(table, args.png, label=label, values=values)
            print(f"wrote {args.png}")
        return 0
    finally:
        runtime.stop()
