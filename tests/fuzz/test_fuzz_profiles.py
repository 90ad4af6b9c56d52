"""Short profiles of ``make fuzz`` (benchmarks/fuzz): every entry point with its regression corpus
(tests/fuzz/corpus, every case that ever failed) and a few hundred to a thousand seeded cases, checking what
``make fuzz`` checks at 10^5: no crash, no hang, every rejection with a status and a reason, the canary answered
(beside the fuzz for the gRPC servers, after the garbage for the loaders and consumers: no stalled partition).

The gRPC servers run on real ports and the consumers on the real broker (integration); the loaders, CLIs, the
processor and the console's forms in process. Fewer cases where one costs much (a CLI run builds detectors).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fuzz import __main__ as fuzz
from benchmarks.fuzz.core import Stats, run_target


def fuzzed(target: Any, cases: int) -> Stats:
    stats = asyncio.run(run_target(target, cases, seed=2, hang_s=30.0, save_failures=False))
    assert stats.crashes == 0 and stats.hangs == 0, stats.failures
    assert stats.unexplained == 0, stats.failures
    assert stats.canary_calls > 0 and stats.canary_failures == 0, stats.failures
    assert stats.cases >= cases
    # Garbage was refused for reasons of more than one kind, and something valid got through.
    assert len(stats.rejections) >= 3 and stats.accepted > 0, stats.row()
    return stats


# The runner uses asyncio.run: these tests are plain functions (no event loop of pytest's around them).
@pytest.mark.parametrize(
    ("name", "cases"),
    [
        ("topic.readings->leakdetect", 400),
        ("loader.network-file", 150),
        ("loader.history-file", 150),
        ("cli.leakdetect-replay", 50),
        ("web.console-forms", 300),
    ],
)
def test_in_process_entry_points(name: str, cases: int, tmp_path: Path) -> None:
    fuzzed(fuzz.build_target(name, None, tmp_path), cases)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "cases"),
    [("grpc.workorders", 500), ("grpc.leakdetect-query", 500), ("cli.workorders-ctl", 60)],
)
def test_servers_keep_serving_while_fuzzed(name: str, cases: int, tmp_path: Path) -> None:
    stats = fuzzed(fuzz.build_target(name, None, tmp_path), cases)
    if name.startswith("grpc."):
        assert len(stats.by_label) >= 3  # the cases went round the methods


@pytest.mark.integration
def test_telemetry_on_kafka_keeps_serving_while_fuzzed(kafka_bootstrap: str, tmp_path: Path) -> None:
    stats = fuzzed(fuzz.build_target("grpc.telemetry", kafka_bootstrap, tmp_path), 500)
    assert set(stats.by_label) == {"PublishBatch", "PublishStream"}


@pytest.mark.integration
@pytest.mark.parametrize("name", ["topic.alarms->workorders", "topic.sensor-health->workorders"])
def test_consumers_store_or_dead_letter_every_record_and_no_partition_stalls(
    name: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    target = fuzz.build_target(name, kafka_bootstrap, tmp_path)
    target.settle_s = 120.0
    target.broker_share = 0.25  # the short profile: more of its records through the broker than make fuzz's 5 %
    stats = fuzzed(target, 200)
    # Every dead letter of the broker's records is on the dead-letter topic, with a reason.
    assert stats.extra["dead_letters_read_back"] == stats.extra["broker_dead_letters"] > 0
    assert stats.extra["records_produced"] > target.partitions and stats.extra["records_in_process"] > 0
    assert stats.canary_calls == target.partitions  # one canary per partition, after the garbage
