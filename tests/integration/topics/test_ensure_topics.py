"""ensure_topics against the real broker: creates, is idempotent, grows partitions, resets drifted configs."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from services.topics import ALL_TOPICS, TopicSpec, ensure_topics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def broker_state(bootstrap: str, names: list[str]) -> dict[str, tuple[int, str, str]]:
    """name -> (partitions, retention.ms, cleanup.policy) as the broker reports them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, configs=["retention.ms", "cleanup.policy"]) for n in names],
            config_filter="all",
        )["topic"]
        return {
            n: (partitions[n], configs[n]["retention.ms"]["value"], configs[n]["cleanup.policy"]["value"])
            for n in names
        }
    finally:
        admin.close()


def test_project_topics_exist_with_their_specs_and_a_rerun_changes_nothing(kafka_bootstrap: str) -> None:
    report = ensure_topics(kafka_bootstrap)  # the fixture already ran it once
    assert not report.changed, report
    report = ensure_topics(kafka_bootstrap)
    assert not report.changed, report
    state = broker_state(kafka_bootstrap, [s.name for s in ALL_TOPICS])
    for spec in ALL_TOPICS:
        assert state[spec.name] == (spec.partitions, str(spec.retention_ms), spec.cleanup_policy)


def test_new_topic_created_once_then_partitions_grow_and_configs_are_reset(kafka_bootstrap: str) -> None:
    name = f"test.ensure.{uuid.uuid4().hex[:10]}.v1"
    spec = TopicSpec(name, partitions=2, retention_ms=3_600_000, key="k", value_type=None)

    first = ensure_topics(kafka_bootstrap, [spec])
    assert first.created == [name]
    second = ensure_topics(kafka_bootstrap, [spec])
    assert not second.changed
    assert broker_state(kafka_bootstrap, [name])[name] == (2, "3600000", "delete")

    grown = TopicSpec(name, partitions=5, retention_ms=7_200_000, key="k", value_type=None, cleanup_policy="compact")
    report = ensure_topics(kafka_bootstrap, [grown])
    assert report.created == []
    assert report.partitions_increased == {name: (2, 5)}
    assert report.configs_updated == {name: {"retention.ms": "7200000", "cleanup.policy": "compact"}}
    assert broker_state(kafka_bootstrap, [name])[name] == (5, "7200000", "compact")

    # fewer partitions in the spec than on the broker: reported, never an error
    report = ensure_topics(kafka_bootstrap, [spec])
    assert report.more_partitions_than_spec == {name: (5, 2)}
    assert broker_state(kafka_bootstrap, [name])[name] == (5, "3600000", "delete")


def test_cli_against_the_broker(kafka_bootstrap: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.topics.admin", "--bootstrap", kafka_bootstrap],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "already match the registry" in result.stdout
    check = subprocess.run(
        [sys.executable, "-m", "services.topics.admin", "--bootstrap", kafka_bootstrap, "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert check.returncode == 0, check.stderr
