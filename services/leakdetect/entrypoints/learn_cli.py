"""``python -m services.leakdetect learn``: the learning commands of leakdetect's query API, with your token.

    export PIPEWARDEN_TOKEN=$(make -s token ROLE=supervisor DISTRICTS=Kangbashi)
    python -m services.leakdetect learn now TR-03                       # learn a new baseline from now
    python -m services.leakdetect learn now TR-03 --at 2026-12-06T08:00
    python -m services.leakdetect learn leak-free TR-03 --start 2026-12-06T07:00 --end 2026-12-06T07:50
    python -m services.leakdetect learn status TR-03                    # the baseline, and the last command's fate

Commands are queued for the worker that owns the segment (``leak.learning-commands.v1``); ``status`` shows the
learned baseline and what became of the last command (pending, applied, or refused and why). The server decides
who may (supervisors, in their districts): the CLI shows its refusals as they are.

Exit codes: 0 done; 1 the server refused or could not be reached (status and message printed); 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import grpc
from google.protobuf.json_format import MessageToDict

from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.grpctls import ClientTLS
from services.grpctls import channel as grpc_channel

TOKEN_ENV = "PIPEWARDEN_TOKEN"
ADDRESS_ENV = "PIPEWARDEN_LEAKDETECT_ADDRESS"
DEFAULT_ADDRESS = "127.0.0.1:50071"  # the query API's default port (config.grpc_port)


class UsageError(Exception):
    pass


def _time_us(text: str) -> int:
    """Seconds since the epoch, or an ISO 8601 time (UTC unless it says otherwise) -> us."""
    try:
        t = float(text)
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text[:60]!r} is neither seconds since 1970 nor an ISO 8601 time (2026-12-06T08:00)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        t = when.timestamp()
    if not (math.isfinite(t) and 946_684_800 <= t < 32_503_680_000):
        raise argparse.ArgumentTypeError(f"{text[:60]!r} is not a time between 2000 and 3000")
    return round(t * 1e6)


def _segment(text: str) -> str:
    if not text or len(text) > 200:
        raise argparse.ArgumentTypeError("a segment id of 1 to 200 characters")
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m services.leakdetect learn",
        description="Learning commands for a segment's leak detector (supervisors, in their districts).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"token: --token-file FILE, or the {TOKEN_ENV} environment variable (e.g. from `make token`)",
    )
    top.add_argument("--address", default=os.environ.get(ADDRESS_ENV, DEFAULT_ADDRESS),
                     help=f"leakdetect query API address (default: ${ADDRESS_ENV} or {DEFAULT_ADDRESS})")
    top.add_argument("--token-file", type=Path, help=f"a file holding the bearer token (default: ${TOKEN_ENV})")
    top.add_argument("--tls-ca", type=Path, default=None, help="speak TLS, trusting this CA (default: plaintext)")
    top.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    top.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    now = sub.add_parser("now", help="learn a new baseline over the learning window from now (or --at)")
    now.add_argument("segment", type=_segment)
    now.add_argument("--at", type=_time_us, default=0, help="start of the window (seconds since 1970, or ISO 8601)")
    free = sub.add_parser("leak-free", help="this period was leak-free: refit the baseline from it")
    free.add_argument("segment", type=_segment)
    free.add_argument("--start", type=_time_us, required=True, help="seconds since 1970, or ISO 8601 (UTC)")
    free.add_argument("--end", type=_time_us, required=True, help="seconds since 1970, or ISO 8601 (UTC)")
    status = sub.add_parser("status", help="the segment's learned baseline and its last learning command")
    status.add_argument("segment", type=_segment)
    return top


def read_token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read the token file {token_file}: {getattr(error, 'strerror', None) or error}"
                             ) from None
        if not token:
            raise UsageError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(f"no token: give --token-file FILE or set {TOKEN_ENV} (`make token ROLE=supervisor ...`)")
    return token


def _run(stub: qgrpc.LeakQueryServiceStub, args: argparse.Namespace, token: str, out: TextIO) -> int:
    auth = (("authorization", f"Bearer {token}"),)
    if args.command == "now":
        reply = stub.LearnNow(qpb.LearnNowRequest(segment_id=args.segment, at_unix_us=args.at), timeout=args.timeout,
                              metadata=auth)
        text = f"learn now {args.segment}: queued as {reply.command_id}"
    elif args.command == "leak-free":
        if args.end <= args.start:
            raise UsageError("--end must be after --start")
        reply = stub.MarkLeakFree(qpb.MarkLeakFreeRequest(segment_id=args.segment, start_unix_us=args.start,
                                                          end_unix_us=args.end), timeout=args.timeout, metadata=auth)
        text = f"leak-free {args.segment}: queued as {reply.command_id}"
    else:
        st = stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id=args.segment), timeout=args.timeout,
                                   metadata=auth).status
        if args.json:
            print(json.dumps(MessageToDict(st.baseline)), file=out)
            return 0
        b = st.baseline
        if not st.served_here:
            print(f"{args.segment}: not served by the worker at {args.address} (ask the one that owns it)", file=out)
            return 0
        print(f"{args.segment}: learned {b.learned} ({b.source}), offset {b.offset_kg_per_s:.4f} +- "
              f"{b.offset_sd_kg_per_s:.4f} kg/s, gain {b.gain:.5f}, kappa {b.kappa:.2f}, learning {b.learning}; "
              f"re-learnings {b.relearns_adopted} adopted, {b.relearns_rejected} rejected", file=out)
        if b.HasField("last_command"):
            c = b.last_command
            print(f"last command {c.command_id} by {c.requested_by}: {c.outcome}: {c.message}", file=out)
        return 0
    print(json.dumps(MessageToDict(reply)) if args.json else text, file=out)
    return 0


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return int(exc.code or 0)
    try:
        token = read_token(args.token_file)
        if args.tls_ca is not None and not Path(args.tls_ca).is_file():
            raise UsageError(f"--tls-ca {args.tls_ca}: no such file")
        if not (math.isfinite(args.timeout) and args.timeout > 0):
            raise UsageError("--timeout must be a positive number of seconds")
    except UsageError as error:
        print(f"error: {error}", file=err)
        return 2
    tls = ClientTLS(str(args.tls_ca)) if args.tls_ca is not None else None
    try:
        with grpc_channel(args.address, tls) as channel:
            return _run(qgrpc.LeakQueryServiceStub(channel), args, token, out)
    except UsageError as error:
        print(f"error: {error}", file=err)
        return 2
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        details = error.details()  # type: ignore[attr-defined]
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            print(f"error: cannot reach leakdetect at {args.address} ({code.name}): {details}", file=err)
        else:
            print(f"refused ({code.name}): {details}", file=err)
        return 1
