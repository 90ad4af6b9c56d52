"""Idempotent creation of the project's topics, and the `python -m services.topics.admin` CLI.

`ensure_topics` creates missing topics with their partition count and configs, raises the partition
count of existing topics that have fewer partitions than their spec (Kafka cannot lower it), and resets
retention / cleanup configs that drifted. Running it again changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from services.kafkaconn import KafkaSecurity, KafkaSecurityError
from services.topics.registry import ALL_TOPICS, TopicSpec

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
BOOTSTRAP_ENV = "PIPEWARDEN_KAFKA_BOOTSTRAP"

_UNKNOWN_TOPIC_OR_PARTITION = 3
_TOPIC_ALREADY_EXISTS = 36


class TopicAdminError(RuntimeError):
    """The broker is unreachable or refused a topic operation."""


@dataclass
class EnsureReport:
    """What `ensure_topics` changed; everything empty means the broker already matched the registry."""

    created: list[str] = field(default_factory=list)
    partitions_increased: dict[str, tuple[int, int]] = field(default_factory=dict)
    configs_updated: dict[str, dict[str, str]] = field(default_factory=dict)
    # Topics with MORE partitions than their spec: left alone (shrinking is impossible), reported.
    more_partitions_than_spec: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.partitions_increased or self.configs_updated)


def parse_bootstrap(value: str) -> list[str]:
    """'host:port[,host:port...]' -> ['host:port', ...]; ValueError for anything else."""
    servers = [s.strip() for s in value.split(",") if s.strip()]
    if not servers:
        raise ValueError("empty bootstrap server list")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bootstrap server must be host:port, got {server!r}")
    return servers


def connect(
    bootstrap_servers: str | Sequence[str], *, timeout_s: float = 10.0, security: KafkaSecurity | None = None
) -> KafkaAdminClient:
    """An admin client whose broker answered a metadata request within timeout_s (retrying until then).

    ``security``: how to connect (TLS, SASL/SCRAM); None reads ``PIPEWARDEN_KAFKA_SECURITY_PROTOCOL`` and its
    companions from the environment (services.kafkaconn), so every tool follows its deployment.
    """
    security = KafkaSecurity.from_env() if security is None else security
    servers = parse_bootstrap(bootstrap_servers) if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        left_ms = max(1000, int((deadline - time.monotonic()) * 1000))
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=servers,
                client_id="pipewarden-topics",
                bootstrap_timeout_ms=min(left_ms, 10_000),
                request_timeout_ms=15_000,
                **security.kafka_python_kwargs(),
            )
        except (KafkaError, OSError) as exc:
            last_error = exc
        else:
            try:
                # A KRaft broker accepts connections before it has registered with its controller.
                if admin.describe_cluster().get("brokers"):
                    return admin
                last_error = TopicAdminError("the cluster reports no brokers yet")
            except (KafkaError, OSError) as exc:
                last_error = exc
            admin.close()
        if time.monotonic() >= deadline:
            raise TopicAdminError(
                f"Kafka at {','.join(servers)} did not answer within {timeout_s:g}s: {last_error!r}"
            ) from last_error
        time.sleep(0.5)


def _describe_partitions(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts of the topics that exist among `names`."""
    counts: dict[str, int] = {}
    for info in admin.describe_topics(names):
        if info.get("error_code", 0) == _UNKNOWN_TOPIC_OR_PARTITION:
            continue
        if info.get("error_code", 0):
            raise TopicAdminError(f"describing topic {info.get('name')!r} failed: error {info['error_code']}")
        counts[info["name"]] = len(info.get("partitions") or [])
    return counts


def _create(admin: KafkaAdminClient, specs: list[TopicSpec], timeout_s: float) -> list[str]:
    request = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication_factor,
            "configs": spec.configs(),
        }
        for spec in specs
    }
    response = admin.create_topics(request, timeout_ms=int(timeout_s * 1000), raise_errors=False)
    created: list[str] = []
    for result in response.get("topics", []):
        code = result.get("error_code", 0)
        if code == 0:
            created.append(result["name"])
        elif code != _TOPIC_ALREADY_EXISTS:  # lost a race with another ensure_topics: fine
            raise TopicAdminError(
                f"creating {result['name']!r} failed: error {code} {result.get('error_message') or ''}".strip()
            )
    if created:
        admin.wait_for_topics(created, timeout_ms=int(timeout_s * 1000))
    return created


def _config_drift(admin: KafkaAdminClient, specs: list[TopicSpec]) -> dict[str, dict[str, str]]:
    """For each topic, the spec configs whose broker value differs from the spec."""
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=list(spec.configs())) for spec in specs
    ]
    described: dict[str, dict[str, Any]] = admin.describe_configs(resources, config_filter="all").get(
        "topic", {}
    )
    drift: dict[str, dict[str, str]] = {}
    for spec in specs:
        actual = described.get(spec.name, {})
        wanted = spec.configs()
        changed = {k: v for k, v in wanted.items() if str((actual.get(k) or {}).get("value")) != v}
        if changed:
            drift[spec.name] = changed
    return drift


def ensure_topics(
    bootstrap_servers: str | Sequence[str],
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    *,
    timeout_s: float = 30.0,
    security: KafkaSecurity | None = None,
) -> EnsureReport:
    """Make the broker's topics match `specs`; idempotent. Raises TopicAdminError."""
    specs = list(specs)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate topic names in specs: {names}")
    report = EnsureReport()
    admin = connect(bootstrap_servers, timeout_s=timeout_s, security=security)
    try:
        existing = _describe_partitions(admin, names)
        missing = [s for s in specs if s.name not in existing]
        if missing:
            report.created = _create(admin, missing, timeout_s)
            for name in report.created:
                log.info("created topic %s", name)

        grow = {s.name: s.partitions for s in specs if s.name in existing and existing[s.name] < s.partitions}
        if grow:
            admin.create_partitions(grow, timeout_ms=int(timeout_s * 1000))
            admin.wait_for_topics(list(grow), timeout_ms=int(timeout_s * 1000))
            for name, wanted in grow.items():
                report.partitions_increased[name] = (existing[name], wanted)
                log.warning(
                    "topic %s had %d partitions, increased to %d (keys move to other partitions: "
                    "per-key order is only guaranteed for records written after this)",
                    name, existing[name], wanted,
                )
        for s in specs:
            if s.name in existing and existing[s.name] > s.partitions:
                report.more_partitions_than_spec[s.name] = (existing[s.name], s.partitions)
                log.warning("topic %s has %d partitions, more than the %d of its spec; left as is",
                            s.name, existing[s.name], s.partitions)

        drift = _config_drift(admin, [s for s in specs if s.name in existing])
        if drift:
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, configs=dict(cfg)) for name, cfg in drift.items()],
                incremental=True,
            )
            for name, cfg in drift.items():
                log.warning("topic %s: reset configs %s to the registry's values", name, cfg)
            report.configs_updated = drift
    except KafkaError as exc:
        raise TopicAdminError(f"topic administration failed: {exc!r}") from exc
    finally:
        admin.close()
    return report


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.topics.admin",
        description="Create the project's Kafka topics (idempotent) and print what changed.",
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
        help=f"host:port[,host:port] (env {BOOTSTRAP_ENV}, default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--wait-s", type=float, default=10.0, help="keep trying to reach the broker this long (default 10)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only wait until the broker answers; create nothing"
    )
    parser.add_argument("--list", action="store_true", help="print the topic registry and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the Kafka client's chatter too")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # kafka-python logs every refused connection while the broker starts; the result is what matters.
    logging.getLogger("kafka").setLevel(logging.INFO if args.verbose else logging.CRITICAL)

    if args.list:
        for spec in ALL_TOPICS:
            print(f"{spec.name}\tpartitions={spec.partitions}\tretention_ms={spec.retention_ms}\t"
                  f"cleanup={spec.cleanup_policy}\tkey={spec.key}\tvalue={spec.value_type or 'bytes'}")
        return 0
    if not args.wait_s > 0:
        parser.error(f"--wait-s must be > 0, got {args.wait_s}")
    try:
        servers = parse_bootstrap(args.bootstrap)
    except ValueError as exc:
        parser.error(str(exc))

    try:
        security = KafkaSecurity.from_env()
        security.kafka_python_kwargs()  # reads the password file and the TLS files now: one clear line if bad
    except KafkaSecurityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            connect(servers, timeout_s=args.wait_s, security=security).close()
            print(f"Kafka at {','.join(servers)} answers")
            return 0
        report = ensure_topics(servers, timeout_s=args.wait_s, security=security)
    except TopicAdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in report.created:
        print(f"created {name}")
    for name, (old, new) in report.partitions_increased.items():
        print(f"partitions {name}: {old} -> {new}")
    for name, cfg in report.configs_updated.items():
        print(f"configs {name}: {cfg}")
    if not report.changed:
        print(f"all {len(ALL_TOPICS)} topics already match the registry")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
