"""``python -m loadtest``: load-test a running Pipewarden deployment and judge it by SLOs.

  python -m loadtest --deployment deploy/local/pipewarden.yaml --profile smoke
  python -m loadtest --target 10.0.0.5:50051 --token-file tokens.yaml [--kafka host:port]
                     [--workorders host:port --dispatcher-token-file FILE] --profile steady

Exit codes: 0 every SLO held, 1 one broke, 2 refused (unknown profile, bad SLO file, unreachable target,
wrong token, bad arguments) before any load was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from loadtest import REPO, crosscheck, fleet, knee, leak, probes, report, slo, transport
from loadtest.profiles import MAX_DURATION_S, MAX_RATE, PROFILES, Profile
from loadtest.stats import Recorder, histogram, percentiles_ms
from loadtest.target import Target, TargetError, check, from_addresses, from_deployment

LEAKDETECT_GROUP = "pipewarden-leakdetect"  # leakdetect's app id: its consumer group
MAX_OVER_SCAN = 2.0  # a tag sending more than this many times its scan rate is not what a field sends
# After the leak's history is acked, leakdetect works through it (70 min of readings, and over TLS the broker
# encrypts every byte it fetches) on the cores the load's acks need: a TLS smoke right after `make up` saw ack p99
# of 85-155 ms in its first 12 s and ~25 ms after. The load starts once the consumer group has caught up: its
# oldest unconsumed reading is at most this old, waiting at most HISTORY_CATCH_UP_MAX_S.
HISTORY_CAUGHT_UP_LAG_S = 2.0
HISTORY_CATCH_UP_MAX_S = 30.0


def say(text: str) -> None:
    print(f"loadtest: {text}", file=sys.stderr, flush=True)


def wait_caught_up(lag_probe: probes.LagProbe, lag_s: float, max_s: float) -> bool:
    """Wait until a lag sample taken from now on shows the consumer group at most ``lag_s`` behind (the probe's
    sampler takes them); False when it is still behind after ``max_s``."""
    since = time.monotonic() - lag_probe.started
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        if any(s["t_s"] >= since and s["lag_s"] <= lag_s for s in lag_probe.series[-3:]):
            return True
        time.sleep(0.2)
    return False


def _positive(kind: type, maximum: float) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (math.isfinite(value) and 0 < value <= maximum):
            raise argparse.ArgumentTypeError(f"must be > 0 and <= {maximum:g}, got {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.splitlines()[0],
                                epilog="profiles: " + "; ".join(f"{n}: {x.description}" for n, x in PROFILES.items()))
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--deployment", type=Path, help="a deploy/local deployment file (addresses and secrets)")
    where.add_argument("--target", help="telemetry host:port (with --token-file)")
    p.add_argument("--token-file", type=Path, help="gateway tokens (secrets file or gateway=token lines)")
    p.add_argument("--network", type=Path, help="network file of the target (default: the demo city)")
    p.add_argument("--kafka", help="Kafka bootstrap host:port of the target (lag, lost readings, alarms)")
    p.add_argument("--workorders", help="workorders gRPC host:port of the target (the leak's work order)")
    p.add_argument("--dispatcher-token-file", type=Path, help="a dispatcher token (`make token`) in a file")
    p.add_argument("--leakdetect", action="append", default=[], help="leakdetect query host:port (repeatable)")
    p.add_argument("--tls-ca", type=Path, help="with --target: speak TLS to the gRPC servers, trusting this CA "
                   "(Kafka: PIPEWARDEN_KAFKA_SECURITY_PROTOCOL and companions)")
    p.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    p.add_argument("--slo", type=Path, default=None, help=f"SLO file (default {slo.DEFAULT_FILE.relative_to(REPO)})")
    p.add_argument("--rate", type=_positive(float, MAX_RATE), help="offered readings/s (ramp: first step)")
    p.add_argument("--duration", type=_positive(float, MAX_DURATION_S), help="load seconds (ramp: sets the steps)")
    p.add_argument("--gateways", type=_positive(int, 10_000), help="use only the first N gateways")
    p.add_argument("--no-leak", action="store_true", help="do not inject a leak")
    p.add_argument("--leaks", type=_positive(int, leak.MAX_LEAKS),
                   help=f"leaks to inject, each on its own segment of {leak.LEAK_GATEWAY} (default: the profile's)")
    p.add_argument("--leak-wait", type=_positive(float, MAX_DURATION_S),
                   help="after the load, the longest wait for the leak's work order (s; smoke: 20)")
    p.add_argument("--no-ghz", action="store_true", help="skip the ghz cross-check")
    p.add_argument("--batch-interval", type=_positive(float, 10.0),
                   help="seconds between a gateway's batches (default: the profile's; steady and soak 1, others 0.1)")
    p.add_argument("--beyond-scan-rates", action="store_true",
                   help=f"steady, soak: run even where tags would send more than {MAX_OVER_SCAN:g}x their scan rates")
    p.add_argument("--reports", type=Path, default=REPO / "reports", help="reports directory")
    p.add_argument("--quiet", action="store_true", help="no live progress")
    return p


def beyond_scan_rates(profile: Profile, network: Any, gateways: list[str]) -> float:
    """How many times its scan rate each tag sends at the profile's highest rate (the fleet spreads the rate
    over the tags by their scan rates)."""
    scan = sum(1.0 / t.scan_period_s for g in gateways for t in network.tags_of_gateway(g))
    return profile.top_rate / scan if scan > 0 else math.inf


def resolve(args: argparse.Namespace) -> Target:
    if args.deployment is not None:
        return from_deployment(args.deployment)
    if args.token_file is None:
        raise TargetError("--target needs --token-file (the gateways' tokens)")
    if args.tls_ca is not None:
        if not args.tls_ca.is_file():
            raise TargetError(f"--tls-ca {args.tls_ca}: no such file")
        transport.use_ca(str(args.tls_ca))
    return from_addresses(args.target, args.token_file, args.network, args.kafka, args.workorders,
                          args.dispatcher_token_file, args.leakdetect)


def _end_offsets(bootstrap: str | None) -> int | None:
    if not bootstrap:
        return None
    import logging

    from kafka import KafkaConsumer, TopicPartition

    from services.topics import TELEMETRY_READINGS

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             client_id="loadtest-offsets", request_timeout_ms=10_000, **transport.kafka_kwargs())
    try:
        parts = consumer.partitions_for_topic(TELEMETRY_READINGS.name) or set()
        ends = consumer.end_offsets([TopicPartition(TELEMETRY_READINGS.name, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        consumer.close()


class Progress:
    """Live progress: rich on a terminal, a plain line every 5 s otherwise."""

    def __init__(self, quiet: bool, total_s: float) -> None:
        self.quiet = quiet
        self.total_s = total_s
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._rich: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if not self.quiet and self.tty:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                  transient=False)
            self._rich.__enter__()
            self._task = self._rich.add_task("starting", total=self.total_s)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)

    def update(self, elapsed: float, text: str) -> None:
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=min(elapsed, self.total_s), description=text)
        elif elapsed - self._last >= 5.0:
            self._last = elapsed
            say(f"{elapsed:5.0f}/{self.total_s:.0f} s  {text}")


def run(args: argparse.Namespace, profile: Profile, thresholds: dict[str, float], target: Target) -> int:
    network = target.network
    gateways = [g for g in sorted(network.gateways) if g in target.gateway_tokens]
    if profile.leak and not args.no_leak:
        gateways = [g for g in gateways if g != leak.LEAK_GATEWAY] or gateways
    if args.gateways:
        gateways = gateways[: args.gateways]
    if not gateways:
        raise TargetError(f"no gateway of network {network.name!r} has a token")
    over_scan = beyond_scan_rates(profile, network, gateways)
    if over_scan > MAX_OVER_SCAN:
        why = (f"profile {profile.name} offers up to {profile.top_rate:,.0f} readings/s over network "
               f"{network.name!r}, whose {len(gateways)} load gateways' tags read {profile.top_rate / over_scan:,.0f} "
               f"readings/s at their scan rates: each tag would send {over_scan:,.0f} times as often, which "
               "leakdetect reads as implausible rates and workorders turns into hazards")
        if profile.at_scan_rates and not args.beyond_scan_rates:
            where = ("DEPLOYMENT=deploy/local/steady.yaml" if profile.name == "steady" else
                     "DEPLOYMENT=a deployment file whose network_file: is FILE")
            raise TargetError(f"{why}. Run the {profile.name} on a network generated for the rate: "
                              f"PYTHONPATH=load-tests .venv/bin/python -m loadtest.network {profile.network_args}, "
                              f"then make up and make loadtest with {where} (load-tests/README.md); or "
                              "--beyond-scan-rates to run it anyway")
        say(f"note: {why}")
    wall: dict[str, float] = {"started": time.time()}  # where the run's wall time goes (the report's wall_s)
    say(f"checking {target.name} (telemetry {target.telemetry}, {len(gateways)} gateways)")
    check(target, gateways)
    wall["checked"] = time.time()

    started_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    leak_run: leak.LeakRun | None = None
    leak_not_injected = None
    if profile.leak and not args.no_leak:
        planned = leak.plan(target, args.leaks or profile.leaks)
        if isinstance(planned, str):
            leak_not_injected = planned
            say(f"no leak injected: {planned}")
        else:
            leak_run = leak.LeakRun(target, planned, load_s=profile.duration_s)
            say(f"leak: replaying {', '.join(planned.segments)} through {planned.gateway} "
                f"({(planned.end - planned.start) / 60:.1f} min: the history at {leak.HISTORY_TIME_SCALE:.0f}x "
                f"before the load, the leaks during it)" + (f"; {planned.note}" if planned.note else ""))
            # Its physics starts now, beside this process's own set-up (probes, streams); the load waits for it.
            leak_run.launch()
    elif profile.leak:
        leak_not_injected = "--no-leak"
    lag_probe = process_probe = None
    samplers: list[probes.Sampler] = []
    if target.kafka_bootstrap:
        from services.topics import TELEMETRY_READINGS

        lag_probe = probes.LagProbe(target.kafka_bootstrap, LEAKDETECT_GROUP, TELEMETRY_READINGS.name)
        samplers.append(probes.Sampler("lag", 2.0, lag_probe.sample))
    server_ack: probes.ServerAckProbe | None = None
    if target.deployment is not None:
        process_probe = probes.ProcessProbe(probes.supervised_pids(target.deployment))
        samplers.append(probes.Sampler("processes", 2.0, process_probe.sample))
        d = target.deployment
        server_ack = probes.ServerAckProbe([f"http://127.0.0.1:{d.telemetry_metrics_port + i}/metrics"
                                            for i in range(d.telemetry_workers)])
    records_before = _end_offsets(target.kafka_bootstrap)


    recorder = Recorder(keep_histograms=profile.ramp)
    plan = fleet.build(network, target.gateway_tokens, gateways, target.telemetry, recorder,
                       batch_interval_s=args.batch_interval or profile.batch_interval_s)
    steps: list[dict[str, Any]] = []

    def step_done(index: int) -> bool:
        """Judge ramp step ``index`` (0-based) on its own window; True when it broke."""
        start, end = index * profile.ramp_step_s, (index + 1) * profile.ramp_step_s
        w = recorder.window(start, end)
        lag_values = [s["lag_s"] for s in (lag_probe.series if lag_probe else []) if start <= s["t_s"] < end + 2]
        w["max_lag_s"] = max(lag_values, default=None)
        measured = {"ack_p99_ms": w["ack_latency_ms"]["p99"], "error_rate_pct": w["error_rate_pct"],
                    "leakdetect_lag_s": w["max_lag_s"],
                    "achieved_to_offered_min": w["achieved_readings_per_s"] / max(1.0, w["offered_readings_per_s"])}
        verdicts = slo.judge({k: v for k, v in thresholds.items() if k in measured}, measured)
        w["offered_readings_per_s"] = profile.rate + profile.ramp_step * index
        w["ok"] = slo.passed(verdicts)
        w["broken"] = [v.name for v in verdicts if v.ok is False]
        steps.append(w)
        say(f"step {index + 1}: offered {w['offered_readings_per_s']:,.0f}/s, achieved "
            f"{w['achieved_readings_per_s']:,.0f}/s, p99 {w['ack_latency_ms']['p99']} ms -> "
            + ("ok" if w["ok"] else "broken: " + ", ".join(w["broken"])))
        return not w["ok"]

    broke = False

    def rate_at(elapsed: float) -> float | None:
        nonlocal broke
        if profile.ramp:
            # A step is judged once its acks have had a second to arrive (the next step is running).
            done = int((elapsed - 1.0) // profile.ramp_step_s) if elapsed > 1.0 else 0
            while len(steps) < min(done, profile.ramp_max_steps) and not broke:
                broke = step_done(len(steps))
            if broke or len(steps) >= profile.ramp_max_steps:
                return None
        return profile.rate_at(elapsed)

    total_s = profile.duration_s + (profile.ramp_step_s if profile.ramp else 0)
    shape = (f"{profile.rate:,.0f} readings/s + {profile.ramp_step:,.0f} every {profile.ramp_step_s:.0f} s, at most "
             f"{profile.ramp_max_steps} steps" if profile.ramp else
             f"{profile.duration_s:.0f} s at {profile.rate:,.0f} readings/s")
    say(f"profile {profile.name}: {shape}" + (", with a leak" if leak_run is not None else ""))
    for sampler in samplers:
        sampler.start()
    if leak_run is not None:
        say("leak: waiting for the replay's physics and history (the detectors learn from it)")
        report.preload()
        leak_run.wait_tail()  # returns once the physics and the history are done: they are not part of the load
        if lag_probe is not None:
            caught_up = wait_caught_up(lag_probe, HISTORY_CAUGHT_UP_LAG_S, HISTORY_CATCH_UP_MAX_S)
            say("leak: leakdetect has caught up with the history" if caught_up else
                f"leak: leakdetect still behind the history after {HISTORY_CATCH_UP_MAX_S:.0f} s; the load starts")
    if server_ack is not None:
        server_ack.start()
    load_started = time.monotonic()
    recorder.started = load_started  # the load's seconds count from here, not from the set-up before it
    loop_lag = histogram()

    async def load() -> None:
        stop = asyncio.Event()

        async def show() -> None:
            while not stop.is_set():
                now = time.monotonic()
                rate, p99, errors = recorder.last_seconds(5, now)
                lag_s = lag_probe.series[-1]["lag_s"] if lag_probe and lag_probe.series else None
                state = ""
                if leak_run is not None:
                    state = ", leak: work order" if leak_run.work_orders else (
                        ", leak: alarm" if leak_run.alarms else ", leak: replaying")
                progress.update(now - load_started, f"{rate:9,.0f} readings/s  p99 "
                                f"{'-' if p99 is None else f'{p99:.1f}'} ms  errors {errors}  lag "
                                f"{'-' if lag_s is None else f'{lag_s:.1f}'} s{state}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

        async def lag() -> None:
            # The generator's own scheduling delay: how late a 10 ms sleep wakes. Acks are timestamped on this
            # loop, so a late loop inflates the client-side ack latency (a starved or busy load generator).
            while not stop.is_set():
                before = time.monotonic()
                await asyncio.sleep(0.01)
                loop_lag.record_value(max(1, min(int((time.monotonic() - before - 0.01) * 1e6), 120_000_000)))

        shower = asyncio.ensure_future(show())
        lagger = asyncio.ensure_future(lag())
        try:
            await fleet.drive(plan, rate_at, stop, recorder)
        finally:
            stop.set()
            await shower
            await lagger

    wall["load"] = time.time()
    with Progress(args.quiet, total_s) as progress:
        asyncio.run(load())
    load_s = time.monotonic() - load_started
    wall["loaded"] = time.time()
    if profile.ramp and not broke and len(steps) < profile.ramp_max_steps:
        step_done(len(steps))  # the last step, ended by the duration
    server_ack_result = server_ack.result() if server_ack is not None else {"missing": "no deployment file"}
    if leak_run is not None:
        if not leak_run.complete():
            say(f"waiting up to {profile.leak_wait_s:.0f} s for the leak's work order")
            leak_run.wait(profile.leak_wait_s)
        leak_run.baseline = leak_run.baselines()
        leak_run.stop()
    wall["leak_done"] = time.time()
    for sampler in samplers:
        sampler.stop()
    if lag_probe is not None:
        lag_probe.close()
    records_after = _end_offsets(target.kafka_bootstrap)

    ghz_result: dict[str, Any] = {"rps": None, "p99_ms": None, "errors": None, "missing": "--no-ghz"}
    if not args.no_ghz:
        stream = plan.streams[0]
        payload, _, _ = stream.plan.batch(stream.sequence + 1, profile.rate / len(plan.streams),
                                          plan.batch_interval_s, time.time_ns() // 1000)
        say(f"ghz on PublishBatch for {profile.ghz_s:.0f} s (gateway {stream.plan.gateway_id}, same payload)")
        ghz_result = crosscheck.ghz(target.telemetry, stream.token, payload, profile.ghz_s, len(plan.streams) * 2,
                                    log=say)
    wall["ghz_done"] = time.time()

    # --- figures and verdicts ---------------------------------------------------------------------------
    leaks = leak_run.results() if leak_run is not None else []
    timed = sorted(x["leak_to_workorder_s"] for x in leaks if x.get("leak_to_workorder_s") is not None)
    over = sorted(x["workorder_after_detecting_data_s"] for x in leaks
                  if x.get("workorder_after_detecting_data_s") is not None)
    alarm_to_watch = sorted(x["alarm_to_watch_s"] for x in leaks if x.get("alarm_to_watch_s") is not None)

    def pct(values: list[float], q: float) -> float | None:
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] if values else None

    offered = recorder.offered_readings_per_s()
    achieved = recorder.achieved_readings_per_s()
    lost = None
    if records_before is not None and records_after is not None:
        # Every acked batch is one record per segment on the topic (the leak replay's records only add to
        # the count written, so a loss as small as them could hide: the replay is a few hundred batches).
        lost = max(0, recorder.acked_records - (records_after - records_before))
    error_rate = 100.0 * recorder.errored_batches / max(1, recorder.sent_batches)
    latency = percentiles_ms(recorder.total)
    measured: dict[str, float | None] = {
        "ack_p99_ms": latency["p99"],
        "error_rate_pct": error_rate,
        "lost_acked_readings": None if lost is None else float(lost),
        "leakdetect_lag_s": lag_probe.max_lag_s() if lag_probe else None,
        "leak_to_workorder_over_detect_s": pct(over, 0.99),
        "alarm_to_watch_p99_s": pct(alarm_to_watch, 0.99),
        "achieved_to_offered_min": achieved / offered if offered else None,
    }
    if leak_run is not None and len(over) < len(leaks):
        # A leak was injected and its work order did not come: that SLO is broken, not unmeasured.
        measured["leak_to_workorder_over_detect_s"] = math.inf
        measured["alarm_to_watch_p99_s"] = math.inf if leak_run.alarms else None
    if profile.ramp:
        # The ramp's verdict is its knee: the whole-run figures mix every step.
        for name in ("ack_p99_ms", "achieved_to_offered_min", "error_rate_pct", "leakdetect_lag_s"):
            measured[name] = None
    verdicts = slo.judge(thresholds, measured)
    for v, name in ((v, v.name) for v in list(verdicts)):
        if measured.get(name) == math.inf:
            verdicts[verdicts.index(v)] = slo.Verdict(name, v.threshold, None, False)
    knee_rate = None
    if profile.ramp:
        knee_steps = [knee.Step(s["offered_readings_per_s"], s["achieved_readings_per_s"], s["ok"],
                                tuple(s["broken"])) for s in steps]
        knee_rate = knee.knee(knee_steps)
    passed = slo.passed(verdicts) and (knee_rate is not None if profile.ramp else True)

    result: dict[str, Any] = {
        "profile": profile.name,
        "target": target.describe(),
        "passed": passed,
        "slos": [v.as_dict() for v in verdicts],
        "started_utc": started_utc,
        "duration_s": round(recorder.load_end_s or load_s, 2),
        "duration_with_drain_s": round(load_s, 2),
        "offered_readings_per_s": round(offered, 1),
        "achieved_readings_per_s": round(achieved, 1),
        "ack_latency_ms": latency,
        # Where the client-side figure goes: telemetry's own share, and the generator's scheduling delay.
        "server_ack_latency_ms": server_ack_result,
        "generator_loop_lag_ms": percentiles_ms(loop_lag),
        "errors_by_status": dict(recorder.errors_by_status),
        "error_rate_pct": round(error_rate, 4),
        "rejections_by_reason": dict(recorder.rejections_by_reason),
        "leakdetect_max_lag_s": lag_probe.max_lag_s() if lag_probe else None,
        "leak_to_workorder_s": {"p50": pct(timed, 0.5), "p99": pct(timed, 0.99), "n": len(timed)},
        "leaks_injected": len(leaks),
        "leaks": leaks,
        "leak_not_injected": leak_not_injected,
        "ghz": ghz_result,
        "processes": process_probe.table() if process_probe else [],
        "counts": {"batches_sent": recorder.sent_batches, "batches_acked": recorder.acked_batches,
                   "batches_errored": recorder.errored_batches, "batches_dropped": recorder.dropped_batches,
                   "batches_late": recorder.late_batches, "readings_offered": recorder.offered_readings,
                   "readings_acked": recorder.acked_readings, "readings_accepted": recorder.accepted_readings,
                   "readings_rejected": recorder.rejected_readings, "kafka_records_expected": recorder.acked_records,
                   "kafka_records_written": None if records_before is None or records_after is None
                   else records_after - records_before, "kafka_records_missing": lost},
        "setup": {"gateways": gateways, "batch_interval_s": plan.batch_interval_s, "cpu_count": os.cpu_count(),
                  "network": network.name, "segments": len(network.segments), "tags": len(network.tags),
                  "times_scan_rate": round(over_scan, 2),
                  "rate": profile.rate, "profile_duration_s": profile.duration_s,
                  "probe_failures": [f for s in samplers for f in s.failures]},
        "series": recorder.series(),
        "lag_series": lag_probe.series if lag_probe else [],
        # RSS per process over the run, MB (a sample every 2 s; every 10 s of a run over 5 min): flat or growing
        "rss_series": (process_probe.series[:: 5 if load_s > 300 else 1]) if process_probe else [],
    }
    if profile.ramp:
        result["steps"] = steps
        result["knee_readings_per_s"] = knee_rate
        perf: dict[str, Any] = {"records_per_s": None, "missing": "no Kafka address"}
        if target.kafka_bootstrap and profile.producer_perf_records:
            from services.contracts.pipewarden.telemetry.v1 import reading_pb2

            tag = network.tags_of_gateway(gateways[0])[0]
            size = len(reading_pb2.Reading(tag_id=tag.tag_id, source_time_unix_us=time.time_ns() // 1000,
                                           value=301.25, quality=reading_pb2.QUALITY_GOOD).SerializeToString())
            perf = crosscheck.producer_perf(target.kafka_bootstrap, size, profile.producer_perf_records, log=say)
        result["kafka_producer_perf"] = perf
        result["kafka_producer_perf_readings_per_s"] = perf.get("records_per_s")
        result["knee_ratio_to_kafka_perf"] = (round(knee_rate / perf["records_per_s"], 4)
                                              if knee_rate and perf.get("records_per_s") else None)
    wall["end"] = time.time()
    result["wall_s"] = wall_phases(wall, leak_run)
    run_dir = report.write(result, args.reports, recorder.histogram_ms())
    summary(result, run_dir)
    return 0 if passed else 1


def wall_phases(wall: dict[str, float], leak_run: leak.LeakRun | None) -> dict[str, float | None]:
    """Where the run's wall time went, s (the interpreter's start and the report's writing are not in it)."""

    def span(a: str, b: str) -> float | None:
        return round(wall[b] - wall[a], 2) if a in wall and b in wall else None

    phases: dict[str, float | None] = {"check": span("started", "checked")}
    # The leak's physics and history overlap this process's own set-up: together they are "before_load".
    phases.update(leak_run.phases() if leak_run is not None else {"leak_physics_s": None, "leak_history_s": None})
    phases.update({"before_load": span("checked", "load"), "load": span("load", "loaded"),
                   "leak_wait": span("loaded", "leak_done"), "ghz": span("leak_done", "ghz_done"),
                   "total": span("started", "end")})
    return phases


def summary(result: dict[str, Any], run_dir: Path) -> None:
    lat = result["ack_latency_ms"]
    print(f"{result['profile']} against {result['target']['name']}: {'PASS' if result['passed'] else 'FAIL'}")
    print(f"  offered {result['offered_readings_per_s']:,.0f} readings/s, achieved "
          f"{result['achieved_readings_per_s']:,.0f}; ack ms p50 {lat['p50']} p99 {lat['p99']} max {lat['max']}; "
          f"errors {result['errors_by_status'] or 0}; lag max {result['leakdetect_max_lag_s']} s")
    server, gen = result.get("server_ack_latency_ms") or {}, result.get("generator_loop_lag_ms") or {}
    print(f"  ack p99 split: telemetry (server) {server.get('p99_ms')} ms; the generator's loop lag p99 "
          f"{gen.get('p99')} ms")
    if "knee_readings_per_s" in result:
        print(f"  knee {result['knee_readings_per_s']} readings/s; ProducerPerformance "
              f"{result['kafka_producer_perf_readings_per_s']} records/s; ratio {result['knee_ratio_to_kafka_perf']}")
    g = result["ghz"]
    print(f"  ghz: {g.get('rps')} calls/s ({g.get('readings_per_s')} readings/s), p99 {g.get('p99_ms')} ms, "
          f"errors {g.get('errors')}" + (f" [{g['missing']}]" if g.get("missing") else ""))
    leak_s = result["leak_to_workorder_s"]
    print(f"  leak -> work order: p50 {leak_s['p50']} s p99 {leak_s['p99']} s (n={leak_s['n']} of "
          f"{result['leaks_injected']} injected)")
    for v in result["slos"]:
        mark = {True: "ok", False: "BROKEN", None: "not measured"}[v["ok"]]
        print(f"  SLO {v['name']}: {v['measured']} {v['sense']} {v['threshold']} {v['unit']}: {mark}")
    w = result.get("wall_s") or {}
    print(f"  wall s: check {w.get('check')}, before the load {w.get('before_load')} (leak physics "
          f"{w.get('leak_physics_s')}, history {w.get('leak_history_s')}), load {w.get('load')}, leak wait "
          f"{w.get('leak_wait')}, ghz {w.get('ghz')}; total {w.get('total')} (+ the report)")
    print(f"  report: {run_dir / 'report.md'} (and {run_dir.parent.parent / 'loadtest.json'})")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        thresholds = slo.load(args.slo)
        profile = PROFILES[args.profile].with_overrides(args.rate, args.duration, args.leak_wait)
        if args.leaks and not profile.leak:
            raise TargetError(f"--leaks: profile {profile.name} injects no leak")
        target = resolve(args)
        return run(args, profile, thresholds, target)
    except (slo.SloError, TargetError) as error:
        print(f"loadtest: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loadtest: interrupted", file=sys.stderr)
        return 130
