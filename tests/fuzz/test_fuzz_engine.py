"""The fuzzing engine's own guarantees (benchmarks/fuzz/core.py): the watchdog sees an in-process case that blocks
(the event loop cannot), saves it to the corpus and keeps where it was stuck; sampled cases cross the process
boundary and are judged by the same oracle (a traceback from the fresh process is a crash)."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

from benchmarks.fuzz.core import Case, Outcome, Target, corpus_of, run_target


class _Blocking(Target):
    name = "test.blocking"
    kind = "cli"
    blocking = True

    def __init__(self, script: str = "raise SystemExit(2)") -> None:
        self.script = script

    def make_case(self, rng: random.Random) -> Case:
        return Case("hostile", "x", rng.randbytes(4), {"slow": rng.random() < 0.2})

    async def run(self, case: Case) -> Outcome:
        if case.extra["slow"]:
            time.sleep(1.2)  # blocks the loop, as a stuck loader would
        return Outcome.refused("exit 2", "bad input")


def test_the_watchdog_counts_a_blocking_case_as_a_hang_and_saves_it(tmp_path: Path) -> None:
    stats = asyncio.run(run_target(_Blocking(), 12, seed=3, hang_s=0.6, corpus_root=tmp_path, subprocess_rate=0))
    slow = sum(1 for c in corpus_of("test.blocking", tmp_path) if c.extra["slow"])
    assert stats.hangs >= 1 and stats.hangs == slow == len(corpus_of("test.blocking", tmp_path))
    assert any("stuck at" in f and "time.sleep" in f for f in stats.failures), stats.failures


class _WithProcess(_Blocking):
    def subprocess_argv(self, case: Case) -> list[str] | None:
        return [sys.executable, "-c", self.script]


def test_sampled_cases_run_as_a_process_with_the_same_oracle(tmp_path: Path) -> None:
    stats = asyncio.run(run_target(_WithProcess("import sys; print('error: bad input', file=sys.stderr); sys.exit(2)"),
                                   6, seed=1, hang_s=30, corpus_root=tmp_path, subprocess_rate=1.0,
                                   subprocess_share=10.0))
    assert stats.subprocess_cases >= 1 and stats.crashes == 0 and stats.subprocess_mismatches == 0
    broken = asyncio.run(run_target(_WithProcess("raise RuntimeError('boom')"), 2, seed=1, hang_s=30,
                                    corpus_root=tmp_path / "b", subprocess_rate=1.0, subprocess_share=10.0))
    assert broken.crashes >= 1 and any("(subprocess)" in f for f in broken.failures), broken.failures


class _SlowOnce(_Blocking):
    """A case slow only the first time it runs, as on a machine loaded by others for a moment."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    async def run(self, case: Case) -> Outcome:
        if case.extra["slow"] and case.digest() not in self.seen:
            self.seen.add(case.digest())
            time.sleep(1.2)
        return Outcome.refused("exit 2", "bad input")


def test_a_case_over_the_limit_once_but_not_when_run_again_alone_is_no_hang(tmp_path: Path) -> None:
    stats = asyncio.run(run_target(_SlowOnce(), 12, seed=3, hang_s=0.6, corpus_root=tmp_path, subprocess_rate=0))
    assert stats.extra["hang_suspects"] >= 1
    assert stats.hangs == 0 and stats.extra["hang_suspects_cleared"] == stats.extra["hang_suspects"]
    assert corpus_of("test.blocking", tmp_path) == []  # the watchdog's provisional copy is removed
    assert stats.cases == 12 and stats.rejected == 12  # the retried case counted once, with its answer
    assert any("hang suspect cleared" in n for n in stats.notes), stats.notes


class _Served(Target):
    """A server beside which a canary runs: ``canary_fails`` of its canaries fail (None: every one)."""

    name = "test.served"
    kind = "grpc"
    concurrency = 4
    canary_interval_s = 0.05

    def __init__(self, canary_fails: int | None) -> None:
        self.canary_fails = canary_fails
        self.canaries = 0

    def make_case(self, rng: random.Random) -> Case:
        return Case("hostile", "M", rng.randbytes(4))

    async def run(self, case: Case) -> Outcome:
        await asyncio.sleep(0.005)
        return Outcome.refused("INVALID_ARGUMENT", "bad")

    async def canary(self) -> None:
        self.canaries += 1
        if self.canary_fails is None or self.canaries <= self.canary_fails:
            raise TimeoutError("no answer")


def test_a_canary_late_beside_the_fuzz_but_answered_alone_is_no_failure_and_one_that_fails_alone_is(
    tmp_path: Path,
) -> None:
    late = asyncio.run(run_target(_Served(canary_fails=1), 200, hang_s=5, corpus_root=tmp_path, subprocess_rate=0))
    assert late.canary_failures == 0 and late.extra["canaries_late"] == 1
    assert any("canary late" in n for n in late.notes), late.notes
    down = asyncio.run(run_target(_Served(canary_fails=None), 200, hang_s=5, corpus_root=tmp_path, subprocess_rate=0))
    assert down.canary_failures >= 1 and down.canary_failures == down.canary_calls
    assert any("and alone" in f for f in down.failures), down.failures


def test_hostile_messages_stay_bounded_in_bytes() -> None:
    # Copies of a repeated item holding a 70,000 character string once made 4 GB messages: the fuzzer of the
    # workorders API ran out of memory (make fuzz).
    from benchmarks.fuzz.core import REPEAT_BYTES_BUDGET, hostile_message
    from services.contracts.pipewarden.telemetry.v1 import reading_pb2
    from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wpb

    rng = random.Random(4)
    for cls in (reading_pb2.ReadingBatch, wpb.ExecuteWorkOrderCommandRequest, wpb.ListWorkOrdersRequest):
        largest = max(hostile_message(cls, rng).ByteSize() for _ in range(150))
        assert largest <= 3 * REPEAT_BYTES_BUDGET, (cls.__name__, largest)
