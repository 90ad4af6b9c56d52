"""``python -m services.workorders ctl``: the work orders API from a terminal or a script, with your token.

    export PIPEWARDEN_TOKEN=$(make -s token ROLE=dispatcher DISTRICTS=Dongsheng)
    python -m services.workorders ctl list --open --grade 1
    python -m services.workorders ctl show workorder-2eacf839-...
    python -m services.workorders ctl dispatch workorder-2eacf839-... --crew-id crew-7 --expected-version 1
    python -m services.workorders ctl hazard sign-off hazard-... --level 1
    python -m services.workorders ctl report leaks-per-100km --png leaks.png
    python -m services.workorders ctl watch --after 1200 --count 10
    python -m services.workorders ctl audit --since 2026-12-06T08:00 --outcome refused   # regulators

Every work-order verb of the API is a subcommand (``dispatch``, ``acknowledge``, ``depart``, ``arrive``,
``make-safe``, ...), hazard verbs are under ``hazard`` and replacement verbs under ``replacement``; each
verb's options are the fields of its protobuf command message (read from the generated descriptors, so
the CLI cannot drift from the API). The server decides everything: the CLI shows its refusals as they are.

Exit codes: 0 done; 1 the server refused or could not be reached (the status and its message are
printed); 2 bad usage (argparse), or no usable token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.grpctls import ClientTLS
from services.grpctls import channel as grpc_channel
from services.workorders.adapters.queries import REPORTS
from services.workorders.config import DEFAULT_GRPC_ADDRESS
from services.workorders.entrypoints.tables import chart_columns, format_table, parse_cell, write_bar_chart
from services.workorders.service_layer.views import Table

TOKEN_ENV = "PIPEWARDEN_TOKEN"
ADDRESS_ENV = "PIPEWARDEN_WORKORDERS_ADDRESS"
# ``location``: where to dig ("km 12.3 (11.8–12.9, 95 %, pressure gradient)", "... not located yet").
_LIST_COLUMNS = (
    "work_order_id", "state", "grade", "district", "segment_id", "crew_id", "age_s", "version", "location"
)

# Protobuf scalar type -> argparse type (the command messages hold only these).
_ARG_TYPES: dict[int, Callable[[str], Any]] = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_INT64: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_UINT64: int,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
}


class UsageError(Exception):
    """Exit 2: the command line cannot make a request (no token, unreadable token file)."""


# The three Execute* requests: (request type, RPC name, aggregate-id field, subcommand group or None).
_EXECUTE: tuple[tuple[type[Any], str, str, str | None], ...] = (
    (pb.ExecuteWorkOrderCommandRequest, "ExecuteWorkOrderCommand", "work_order_id", None),
    (pb.ExecuteHazardCommandRequest, "ExecuteHazardCommand", "hazard_id", "hazard"),
    (pb.ExecuteReplacementCommandRequest, "ExecuteReplacementCommand", "replacement_id", "replacement"),
)


def _cli_name(field_name: str) -> str:
    return field_name.replace("_", "-")


def _add_verbs(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    request_type: type[Any],
    rpc: str,
    id_field: str,
) -> None:
    """One subcommand per oneof verb of ``request_type``; its options are the command message's fields."""
    for verb in request_type.DESCRIPTOR.oneofs_by_name["command"].fields:
        message = verb.message_type
        parser = sub.add_parser(_cli_name(verb.name), help=f"{verb.name} ({message.name})")
        optional_id = request_type is pb.ExecuteReplacementCommandRequest
        parser.add_argument(
            id_field,
            nargs="?" if optional_id else None,
            default="",
            help=f"the {id_field}" + (" (flag/set-target/open derive theirs: omit it)" if optional_id else ""),
        )
        for field in message.fields:
            option = f"--{_cli_name(field.name)}"
            if field.type == FieldDescriptor.TYPE_BOOL:
                parser.add_argument(option, dest=f"field_{field.name}", action="store_true")
            else:
                parser.add_argument(option, dest=f"field_{field.name}", type=_ARG_TYPES[field.type], metavar="VALUE")
        parser.add_argument(
            "--expected-version", type=int, help="refuse (ABORTED) unless the stream is at this version"
        )
        parser.add_argument("--note", default="", help="a note kept with the events")
        parser.add_argument("--command-id", default="", help="idempotency key: a retry with it changes nothing")
        parser.set_defaults(run=_execute_command, request_type=request_type, rpc=rpc, verb=verb.name, id_field=id_field)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m services.workorders ctl",
        description="The work orders API from a terminal, with your token (the same refusals as the console).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"token: --token-file FILE, or the {TOKEN_ENV} environment variable (e.g. from `make token`)",
    )
    top.add_argument(
        "--address",
        default=os.environ.get(ADDRESS_ENV, DEFAULT_GRPC_ADDRESS),
        help=f"workorders gRPC address (default: ${ADDRESS_ENV} or {DEFAULT_GRPC_ADDRESS})",
    )
    top.add_argument("--token-file", type=Path, help=f"a file holding the bearer token (default: ${TOKEN_ENV})")
    top.add_argument(
        "--tls-ca",
        type=Path,
        default=os.environ.get("PIPEWARDEN_WORKORDERS_CTL_TLS_CA_FILE") or None,
        help="speak TLS, trusting this CA (a deployment with tls: true: <data_dir>/tls/ca.pem; "
        "default: $PIPEWARDEN_WORKORDERS_CTL_TLS_CA_FILE, else plaintext)",
    )
    top.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer (default 10)")
    top.add_argument("--json", action="store_true", help="print the API's answer as JSON instead of a table")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="work orders, newest first")
    listing.add_argument("--district", action="append", default=[], help="repeat for several")
    listing.add_argument("--grade", action="append", type=int, default=[], choices=(1, 2, 3))
    listing.add_argument("--state", action="append", default=[], help="e.g. dispatched; repeat for several")
    listing.add_argument("--open", action="store_true", help="only orders not closed or cancelled")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (1-1000)")
    listing.set_defaults(run=_list)

    show = sub.add_parser("show", help="one work order, current")
    show.add_argument("work_order_id")
    show.set_defaults(run=_show)

    hazards = sub.add_parser("hazards", help="the hazard ledger")
    hazards.add_argument("--district", action="append", default=[])
    hazards.add_argument("--state", action="append", default=[])
    hazards.add_argument("--major", action="store_true", help="only major hazards")
    hazards.add_argument("--overdue", action="store_true", help="only hazards past their deadline")
    hazards.add_argument("--limit", type=int, default=100)
    hazards.set_defaults(run=_hazards)

    report = sub.add_parser("report", help="a named report, as a table (and a bar chart with --png)")
    report.add_argument("name", choices=REPORTS)
    report.add_argument("--png", type=Path, help="also write a bar chart here")
    report.set_defaults(run=_report)

    watch = sub.add_parser("watch", help="changes as they are stored (Ctrl-C to stop)")
    watch.add_argument("--after", type=int, default=0, help="start after this global position (resume)")
    watch.add_argument("--district", action="append", default=[])
    watch.add_argument("--count", type=int, default=0, help="stop after this many events (0: never)")
    watch.set_defaults(run=_watch)

    audit = sub.add_parser(
        "audit",
        help="the audit trail (regulators): who tried what, from where, and how it ended; oldest first",
    )
    audit.add_argument(
        "--since",
        type=_time_us,
        default=0,
        help="ISO 8601 time (UTC unless it says) or µs since 1970; default: 24 h before --until",
    )
    audit.add_argument("--until", type=_time_us, default=0, help="ISO 8601 time or µs since 1970 (default: now)")
    audit.add_argument("--subject", action="append", default=[], help="a token subject; repeat for several")
    audit.add_argument("--district", action="append", default=[], help="repeat for several")
    audit.add_argument(
        "--outcome",
        action="append",
        default=[],
        help="ok, refused (anything but ok), dropped, or a status such as permission_denied",
    )
    audit.add_argument("--limit", type=int, default=100, help="print at most this many records (default 100)")
    audit.set_defaults(run=_audit)

    for request_type, rpc, id_field, group in _EXECUTE:
        if group is None:
            _add_verbs(sub, request_type, rpc, id_field)
            continue
        group_parser = sub.add_parser(group, help=f"{group} commands: {group} --help")
        _add_verbs(group_parser.add_subparsers(dest="verb", required=True, metavar="VERB"), request_type, rpc, id_field)
    return top


def read_token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as error:
            raise UsageError(f"cannot read the token file {token_file}: {error.strerror or error}") from None
        if not token:
            raise UsageError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(f"no token: give --token-file FILE or set {TOKEN_ENV} (`make token ROLE=... DISTRICTS=...`)")
    return token


class _Api:
    def __init__(self, stub: pb_grpc.WorkOrdersServiceStub, token: str, timeout_s: float) -> None:
        self.stub = stub
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.timeout_s = timeout_s

    def call(self, rpc: str, request: Any) -> Any:
        return getattr(self.stub, rpc)(request, metadata=self.metadata, timeout=self.timeout_s)

    def stream(self, rpc: str, request: Any) -> Iterator[Any]:
        return getattr(self.stub, rpc)(request, metadata=self.metadata)  # type: ignore[no-any-return]


def _print_json(message: Any) -> None:
    print(json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2))


def _work_order_table(orders: Sequence[pb.WorkOrder]) -> Table:
    rows = tuple(tuple(getattr(o, c) if c != "age_s" else round(o.age_s) for c in _LIST_COLUMNS) for o in orders)
    return Table("work orders", _LIST_COLUMNS, rows)


def _list(api: _Api, args: argparse.Namespace) -> int:
    reply = api.call(
        "ListWorkOrders",
        pb.ListWorkOrdersRequest(
            districts=args.district,
            grades=args.grade,
            states=args.state,
            open_only=args.open,
            page_size=args.limit,
        ),
    )
    if args.json:
        _print_json(reply)
    else:
        print(format_table(_work_order_table(reply.work_orders)))
    return 0


def _show(api: _Api, args: argparse.Namespace) -> int:
    reply = api.call("GetWorkOrder", pb.GetWorkOrderRequest(work_order_id=args.work_order_id))
    if args.json:
        _print_json(reply.work_order)
        return 0
    for field, value in reply.work_order.ListFields():
        print(f"{field.name:<28} {value}")
    return 0


def _hazards(api: _Api, args: argparse.Namespace) -> int:
    reply = api.call(
        "ListHazards",
        pb.ListHazardsRequest(
            districts=args.district,
            states=args.state,
            major_only=args.major,
            overdue_only=args.overdue,
            page_size=args.limit,
        ),
    )
    if args.json:
        _print_json(reply)
        return 0
    columns = ("hazard_id", "state", "district", "major", "overdue", "deadline_unix_us", "responsible_unit")
    print(format_table(Table("hazards", columns, tuple(tuple(getattr(h, c) for c in columns) for h in reply.hazards))))
    return 0


def _report(api: _Api, args: argparse.Namespace) -> int:
    reply = api.call("GetReport", pb.GetReportRequest(name=args.name))
    if args.json:
        _print_json(reply)
        return 0
    table = Table(
        reply.name,
        tuple(reply.table.columns),
        tuple(tuple(parse_cell(cell) for cell in row.cells) for row in reply.table.rows),
    )
    print(format_table(table))
    print(f"(as of global position {reply.as_of_position})")
    if args.png is not None:
        label, values = chart_columns(table)
        write_bar_chart(table, args.png, label=label, values=values)
        print(f"wrote {args.png}")
    return 0


def _watch(api: _Api, args: argparse.Namespace) -> int:
    shown = 0
    for change in api.stream("Watch", pb.WatchRequest(after_position=args.after, districts=args.district)):
        if change.heartbeat:
            continue
        if args.json:
            print(json_format.MessageToJson(change, preserving_proto_field_name=True, indent=None), flush=True)
        else:
            state = f" -> {change.work_order.state}" if change.HasField("work_order") else ""
            line = f"{change.position:>8}  {change.event_type:<28} {change.stream_id}{state}  by {change.actor}"
            print(line, flush=True)
        shown += 1
        if args.count and shown >= args.count:
            break
    return 0


def _time_us(text: str) -> int:
    """A time on the command line: microseconds since 1970, or ISO 8601 (UTC when it names no zone)."""
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an ISO 8601 time nor microseconds since 1970") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return round(when.timestamp() * 1_000_000)


_AUDIT_COLUMNS = ("at", "subject", "role", "action", "target", "district", "outcome", "peer", "reason")


def _audit(api: _Api, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    records: list[Any] = []
    page_token = ""
    while len(records) < args.limit:
        reply = api.call(
            "ListAuditRecords",
            pb.ListAuditRecordsRequest(
                since_unix_us=args.since,
                until_unix_us=args.until,
                subjects=args.subject,
                districts=args.district,
                outcomes=args.outcome,
                page_size=min(1000, args.limit - len(records)),
                page_token=page_token,
            ),
        )
        records += reply.records
        page_token = reply.next_page_token
        if not page_token:
            break
    records = records[: args.limit]
    if args.json:
        for record in records:
            print(json_format.MessageToJson(record, preserving_proto_field_name=True, indent=None))
        return 0
    rows = tuple(
        (
            dt.datetime.fromtimestamp(r.at_unix_us / 1e6, dt.UTC).isoformat(timespec="seconds"),
            r.subject or "(unauthenticated)",
            r.role,
            r.action,
            r.target,
            r.district,
            r.outcome if not r.dropped else f"dropped {r.dropped}",
            r.peer,
            r.reason[:80],
        )
        for r in records
    )
    print(format_table(Table("audit trail", _AUDIT_COLUMNS, rows)))
    if page_token:
        print(f"(more records: raise --limit above {args.limit} or narrow the filters)")
    return 0


def _execute_command(api: _Api, args: argparse.Namespace) -> int:
    request_type = args.request_type
    command = getattr(request_type(), args.verb).__class__()
    for field in command.DESCRIPTOR.fields:
        value = getattr(args, f"field_{field.name}")
        if value is not None:
            setattr(command, field.name, value)
    request = request_type(**{args.id_field: getattr(args, args.id_field) or "", args.verb: command})
    request.context.note = args.note
    request.context.command_id = args.command_id
    if args.expected_version is not None:
        request.context.expected_version = args.expected_version
    reply = api.call(args.rpc, request)
    if args.json:
        _print_json(reply)
        return 0
    result = reply.result
    subject = ""
    if request_type is pb.ExecuteWorkOrderCommandRequest:
        subject = f": now {reply.work_order.state}"
    elif request_type is pb.ExecuteHazardCommandRequest:
        subject = f": now {reply.hazard.state}"
    print(f"{args.verb} {result.stream_id} -> version {result.version}{subject} ({', '.join(result.event_types)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        token = read_token(args.token_file)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.tls_ca is not None and not Path(args.tls_ca).is_file():
        print(f"error: --tls-ca {args.tls_ca}: no such file", file=sys.stderr)
        return 2
    tls = ClientTLS(str(args.tls_ca)) if args.tls_ca is not None else None
    with grpc_channel(args.address, tls) as channel:
        api = _Api(pb_grpc.WorkOrdersServiceStub(channel), token, args.timeout)
        try:
            return int(args.run(api, args))
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except ValueError as error:  # a value the request cannot carry (--limit -1 into a uint32), found by make fuzz
            print(f"error: {error}: check the command's numbers (python -m services.workorders ctl COMMAND --help)",
                  file=sys.stderr)
            return 2
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            details = error.details()  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                print(f"error: cannot reach workorders at {args.address} ({code.name}): {details}", file=sys.stderr)
            else:
                print(f"refused ({code.name}): {details}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        except BrokenPipeError:  # `ctl watch | head`
            return 0
