"""``python -m services.workorders``: ``serve``, ``report <name>``, ``rebuild``.

Parses the command line and hands over to the composition root (``services.workorders.bootstrap``).

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
from services.workorders.service_layer.views import Table

log = logging.getLogger(__name__)


def format_table(table: Table) -> str:
    cells = [list(table.columns)] + [[_fmt(c) for c in row] for row in table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = [table.name, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        lines.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if not table.rows:
        lines.append("(no rows)")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_bar_chart(table: Table, path: Path, *, label: str, values: Sequence[str]) -> None:
    """A grouped bar chart (Agg backend) of ``values`` columns against the ``label`` column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label_index = table.columns.index(label)
    indices = [table.columns.index(v) for v in values]
    labels = [str(row[label_index]) for row in table.rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5))
    width = 0.8 / max(1, len(indices))
    for k, (name, idx) in enumerate(zip(values, indices, strict=True)):
        heights = [float(str(row[idx])) if _numeric(str(row[idx])) else 0.0 for row in table.rows]
        ax.bar([i + k * width for i in range(len(labels))], heights, width=width, label=name)
    ax.set_xticks([i + width * (len(indices) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_title(table.name)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


# Report -> (label column, value columns) of its PNG chart.
CHARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "replacement": ("line", ("target_km", "replaced_km")),
    "inventory": ("material", ("remaining_km",)),
    "leaks-per-100km": ("district", ("leaks_per_100km",)),
    "open-work-orders": ("district", ("open",)),
    "rectification": ("district", ("found", "rectified")),
}


def _parser(config: WorkOrdersConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.workorders", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the gRPC API, alarm and sensor-health consumers, read models, SLA and hazard tickers, outbox relay",
    )
    serve.add_argument("--db", default=config.db_url, help="event store URL (PIPEWARDEN_WORKORDERS_DB_URL)")
    serve.add_argument("--address", default=config.grpc_address, help="host:port to listen on")
    report = sub.add_parser("report", help="print a read-model report as a table")
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
    args = _parser(config).parse_args(argv)
    from services.workorders import bootstrap

    if args.command == "serve":
        return bootstrap.serve(config, db_url=args.db, address=args.address)
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
            label, values = CHARTS.get(args.name, (table.columns[0], ()))
            if not values:
                values = tuple(c for c, v in zip(table.columns, table.rows[0] if table.rows else (), strict=False)
                               if isinstance(v, int | float) and not isinstance(v, bool))[:2]
            write_bar_chart(table, args.png, label=label, values=values)
            print(f"wrote {args.png}")
        return 0
    finally:
        runtime.stop()
