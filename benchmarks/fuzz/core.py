"""The fuzzing engine: seeded case generators, the runner that checks the guarantees, the regression corpus.

A *target* is one entry point (a gRPC API, a topic consumer, a file loader, a CLI, the console's forms). It
makes cases from a seeded ``random.Random`` (garbage bytes, mutations of real messages, structured messages
with hostile values), runs one, and says what happened as an ``Outcome``: accepted, or refused with a status
and a reason. What breaks a guarantee:

- a *crash*: the target raised something it does not expect of the entry point (a traceback reached the
  caller, gRPC INTERNAL / UNKNOWN, HTTP 5xx, a CLI that died with a traceback);
- a *hang*: a case that did not finish within ``hang_s``, and did not either when run again alone: a case
  over the limit is first a *suspect*; after the run (the server idle, nothing else in this process) it runs
  once more, alone, and only a second time over the limit makes it a hang. A machine loaded by others slows
  every case, not the same one twice; a real hang (an unbounded query, a loop) stays one. Suspects that
  finish are counted and named in the report (``hang_suspects``, ``hang_suspects_cleared``);
- an *unexplained* rejection: a refusal without a status or without a reason;
- a *canary failure*: while the target is being fuzzed, a valid request sent beside the garbage (gRPC) or
  after it (consumers, loaders) must still succeed; a consumer's canary record after the garbage must be
  processed, or its partition is stalled. A canary that fails beside the fuzz is tried again at once with
  the fuzz paused and its calls in flight finished: it fails only if it fails alone too (a canary queued
  behind dozens of calls on a loaded machine is late, not refused; a server that stopped serving fails both).

Every case that broke one is written to the regression corpus (``tests/fuzz/corpus/<entry point>/``) and
replayed first on every later run, by ``make fuzz`` and by the short profiles in ``make test``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import os
import random
import re
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = REPO / "tests" / "fuzz" / "corpus"
# Set (by ``make fuzz``'s SIGTERM at its time bound): generate no more cases, finish and report what ran.
STOP_REQUESTED = threading.Event()


def scratch_dir(prefix: str) -> Path:
    """A fresh folder for a target's files, on tmpfs when the machine has one: the loaders and CLIs write a file
    per case, and replacing a file on the checkout's disk cost ~2 ms (more than most cases), on tmpfs ~15 us.
    Never inside the checkout (a case once named a tracked fixture as an output file and truncated it)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


# --------------------------------------------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Outcome:
    """What one case did: accepted, or refused with a status (a gRPC code, an HTTP status, an exit code, a
    dead letter) and the reason the entry point gave."""

    accepted: bool
    status: str = ""
    reason: str = ""
    crash: bool = False  # the entry point broke (a traceback, INTERNAL, 5xx)

    @staticmethod
    def ok(status: str = "OK") -> Outcome:
        return Outcome(True, status)

    @staticmethod
    def refused(status: str, reason: str) -> Outcome:
        return Outcome(False, status, reason)

    @staticmethod
    def crashed(status: str, reason: str) -> Outcome:
        return Outcome(False, status, reason, crash=True)


@dataclass
class Case:
    """One input: ``kind`` says how it was made (garbage / mutated / hostile / valid), ``label`` what it is
    for (a gRPC method, a form), ``data`` the bytes or text, ``extra`` anything else a target needs."""

    kind: str
    label: str
    data: bytes
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "data_b64": base64.b64encode(self.data).decode(),
            "extra": self.extra,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Case:
        return Case(raw["kind"], raw["label"], base64.b64decode(raw["data_b64"]), dict(raw.get("extra") or {}))

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


class Target:
    """One entry point under fuzz. Subclasses set ``name``/``kind`` and implement ``make_case`` and ``run``."""

    name = "target"
    kind = "?"
    # Cases run at once (network targets overlap calls; in-process targets run one at a time).
    concurrency = 1
    # Seconds between canary calls beside the fuzz (0: the canary runs only every ``canary_every`` cases).
    canary_interval_s = 0.0
    canary_every = 1000
    # False: the target checks its canaries itself in ``finish`` (consumers: one per partition after the garbage).
    runner_canary = True
    # True: ``run`` calls the entry point synchronously in this thread (it blocks the event loop, so only the
    # watchdog thread can see a case that does not come back).
    blocking = False

    def cases_for(self, per_entry_point: int) -> int:
        """Cases to generate for ``per_entry_point`` cases per entry point (a gRPC server: per method)."""
        return per_entry_point

    def subprocess_argv(self, case: Case) -> list[str] | None:
        """The same case as a command line for a fresh process (``python -m ...``), for the sampled cases that
        cross the real process boundary; None when the target has none."""
        return None

    def subprocess_outcome(self, code: int, stdout: str, stderr: str) -> Outcome:
        """Judge a sampled subprocess case with the target's oracle (by default a CLI's: a traceback on stderr
        is a crash, exit 0 accepted, another exit refused with stderr's last line as the reason)."""
        if TRACEBACK.search(stderr):
            return Outcome.crashed(f"exit {code}", stderr[-1500:])
        if code == 0:
            return Outcome.ok("exit 0")
        if code < 0:  # killed by a signal: a crash of the process, whatever it printed
            return Outcome.crashed(f"signal {-code}", stderr[-1500:])
        return Outcome.refused(f"exit {code}", stderr.strip().splitlines()[-1] if stderr.strip() else "")

    async def start(self) -> None:
        """Bring up what the entry point needs (servers, brokers' topics, files)."""

    async def stop(self) -> None:
        """Tear it down."""

    def make_case(self, rng: random.Random) -> Case:
        raise NotImplementedError

    async def run(self, case: Case) -> Outcome:
        raise NotImplementedError

    async def canary(self) -> None:
        """A valid request that must succeed while (or after) the target is fuzzed; raises when it does not."""

    async def finish(self, stats: Stats) -> None:
        """After the cases: checks that need all of them (a consumer's final canaries, its dead letters)."""


TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


# ---------------------------------------------------------------------------------------------- generators
INTERESTING_INTS = (0, 1, -1, 2, 127, 128, 255, 256, 2**15, 2**16, 2**31 - 1, -(2**31), 2**32, 2**53, 2**63 - 1,
                    -(2**63), 2**64 - 1)
INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 1e-300,
                      101325.0, 273.15, 1e9)
HOSTILE_TEXT = (
    "", " ", "\x00", "\x00abc", "a\x1b[31mred", "\r\n", "\t", "\u202eevil", "\ufeff", "😀" * 3, "𝄞", "é",
    "../../../etc/passwd", "' OR 1=1 --", "<script>alert(1)</script>", "%s%n%x", "${jndi:ldap://x}", "*", "-1",
    "NaN", "null", "None", "true", "{}", "[]", "\\", "/", "DROP TABLE events;", "\u0085", "\u2028", "\udcff"[:0],
)


def hostile_text(rng: random.Random, vocabulary: Sequence[str]) -> str:
    roll = rng.random()
    if roll < 0.35 and vocabulary:
        return rng.choice(vocabulary)
    if roll < 0.55:
        return rng.choice(HOSTILE_TEXT)
    if roll < 0.65 and vocabulary:  # a real id, bent
        base = rng.choice(vocabulary)
        return rng.choice((base.lower(), base + " ", " " + base, base * 2, base[:-1], base + "\x00", base.upper()))
    if roll < 0.8:
        return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(1, 40)))
    if roll < 0.9:
        ranges = ((0, 0x20), (0x80, 0xD800), (0xE000, 0x110000))
        return "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randrange(1, 20)))
    length = rng.choice((300, 1_000, 5_000, 70_000))
    return rng.choice("ax9-/") * length


def _int_for(field_type: int, rng: random.Random) -> int:
    value = rng.choice(INTERESTING_INTS) if rng.random() < 0.7 else rng.randrange(-(2**63), 2**63)
    bits = {FieldDescriptor.TYPE_INT32: 32, FieldDescriptor.TYPE_SINT32: 32, FieldDescriptor.TYPE_SFIXED32: 32,
            FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_FIXED32: 32}.get(field_type, 64)
    unsigned = field_type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32,
                              FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
    if unsigned:
        return value % (2**bits)
    half = 2 ** (bits - 1)
    return ((value + half) % (2**bits)) - half


def _scalar(fd: FieldDescriptor, rng: random.Random, vocabulary: Sequence[str]) -> Any:
    t = fd.type
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        value = rng.choice(INTERESTING_FLOATS) if rng.random() < 0.6 else rng.uniform(-1e7, 1e7)
        if t == FieldDescriptor.TYPE_FLOAT and math.isfinite(value) and abs(value) > 3.4e38:
            value = math.copysign(math.inf, value)
        return value
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FieldDescriptor.TYPE_STRING:
        return hostile_text(rng, vocabulary)
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 1, 8, 64, 1000)))
    if t == FieldDescriptor.TYPE_ENUM:
        assert fd.enum_type is not None
        known = [v.number for v in fd.enum_type.values]
        return rng.choice(known) if rng.random() < 0.7 else rng.choice((-1, 99, 2**31 - 1, -(2**31)))
    return _int_for(t, rng)


# Values one hostile message may hold in all (repeated fields included): big enough for a request far over
# every size limit, small enough that making it stays cheap.
MESSAGE_BUDGET = 60_000
# Bytes that repeats of one value may add to a message: past every server's 4 MiB cap, but bounded (a 70,000
# character string repeated 20,000 times was 1.4 GB; copies of a message holding one, 4 GB: the fuzzer ran out
# of memory).
REPEAT_BYTES_BUDGET = 6_000_000


def hostile_message(
    descriptor_or_cls: Any, rng: random.Random, vocabulary: Sequence[str] = (), depth: int = 0,
    budget: list[int] | None = None,
) -> Message:
    """A message of the given type whose fields are set, at random, to hostile and boundary values: extreme
    numbers, NaN, unknown enum numbers, control characters, very long strings, real ids bent, many repeats."""
    cls = descriptor_or_cls
    if budget is None:
        budget = [MESSAGE_BUDGET]
    message: Message = cls()
    descriptor: Any = message.DESCRIPTOR
    for fd in descriptor.fields:
        if rng.random() < 0.35:
            continue
        if budget[0] <= 0:
            break
        try:
            _set_field(message, fd, rng, vocabulary, depth, budget)
        except (ValueError, TypeError, OverflowError):
            continue  # a value the runtime will not hold (the raw mutators cover those bytes)
    return message


def _set_field(message: Message, fd: FieldDescriptor, rng: random.Random, vocabulary: Sequence[str],
               depth: int, budget: list[int]) -> None:
    repeated = fd.is_repeated
    budget[0] -= 1
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        sub_cls = type(getattr(message, fd.name)) if not repeated else None
        assert fd.message_type is not None
        if fd.message_type.GetOptions().map_entry:
            key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            target = getattr(message, fd.name)
            for _ in range(rng.choice((1, 2, 5, 50))):
                key = _scalar(key_fd, rng, vocabulary)
                if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(hostile_message(type(target[key]), rng, vocabulary, depth + 1, budget))
                else:
                    target[key] = _scalar(value_fd, rng, vocabulary)
            return
        if depth >= 3:
            return
        if repeated:
            container = getattr(message, fd.name)
            count = rng.choice((0, 1, 2, 3, 10, 200)) if rng.random() < 0.95 else 3000
            # Past a few, the items are copies of the first few: as hostile to a server (sizes, repeats, the
            # same bad value many times), and making 200 distinct ones cost 2/3 of a telemetry case.
            made: list[tuple[Message, int, int]] = []
            added_bytes = 0
            for i in range(count):
                if budget[0] <= 0 or added_bytes > REPEAT_BYTES_BUDGET:
                    break
                item = container.add()
                if i < 4:
                    before = budget[0]
                    item.CopyFrom(hostile_message(type(item), rng, vocabulary, depth + 1, budget))
                    made.append((item, before - budget[0], item.ByteSize()))
                    added_bytes += made[-1][2]
                else:
                    original, cost, size = made[i % len(made)]
                    item.CopyFrom(original)
                    budget[0] -= max(cost, 1)
                    added_bytes += size
        else:
            assert sub_cls is not None
            getattr(message, fd.name).CopyFrom(hostile_message(sub_cls, rng, vocabulary, depth + 1, budget))
        return
    if repeated:
        count = min(budget[0], rng.choice((0, 1, 2, 5, 100)) if rng.random() < 0.97 else 20_000)
        budget[0] -= count
        values = getattr(message, fd.name)
        if count > 200:  # one value repeated: as hostile, far cheaper to make
            value = _scalar(fd, rng, vocabulary)
            if isinstance(value, (str, bytes)) and len(value) > 100:
                count = min(count, REPEAT_BYTES_BUDGET // len(value))
            values.extend([value] * count)
        else:
            values.extend(_scalar(fd, rng, vocabulary) for _ in range(count))
    else:
        setattr(message, fd.name, _scalar(fd, rng, vocabulary))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def unknown_fields(rng: random.Random) -> bytes:
    """Bytes of fields no version of the contract has (a newer client, or a crafted one)."""
    number = rng.choice((99, 1000, 536_870_911))
    wire = rng.choice((0, 1, 2, 5))
    key = _varint((number << 3) | wire)
    if wire == 0:
        return key + _varint(rng.choice(INTERESTING_INTS))
    if wire == 1:
        return key + struct.pack("<d", rng.choice(INTERESTING_FLOATS))
    if wire == 5:
        return key + b"\x00\x00\x80\x7f"
    body = rng.randbytes(rng.choice((0, 5, 300)))
    return key + _varint(len(body)) + body


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes] = ()) -> bytes:
    """1-4 byte-level mutations: bit flips, interesting bytes, inserted / deleted / repeated runs, a cut, a
    splice with another seed, a length prefix made huge."""
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(9)
        n = len(buf)
        if op == 0 and n:
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01, 0x0A, 0x12))
        elif op == 2:
            i = rng.randrange(n + 1)
            buf[i:i] = rng.randbytes(rng.randrange(1, 16))
        elif op == 3 and n:
            i = rng.randrange(n)
            del buf[i : i + rng.randrange(1, 16)]
        elif op == 4 and n:
            i = rng.randrange(n)
            chunk = buf[i : i + rng.randrange(1, 64)]
            buf[i:i] = chunk * rng.randrange(1, 8)
        elif op == 5 and n:
            del buf[rng.randrange(n) :]
        elif op == 6 and others:
            other = rng.choice(others)
            if other:
                buf = buf[: rng.randrange(n + 1)] + bytearray(other[rng.randrange(len(other)) :])
        elif op == 7 and n:
            i = rng.randrange(n)
            buf[i : i + 1] = _varint(rng.choice((2**31 - 1, 2**32, 2**63 - 1, 2**64 - 1, 0x7FFFFFF0)))
        else:
            buf += unknown_fields(rng)
    return bytes(buf)


def garbage(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return b""
    if roll < 0.2:
        return rng.choice((b"\xff", b"\x0a", b"\x0a\xff\xff\xff\xff\x0f", b"\x08\x80", b"\x12\x05abc"))
    if roll < 0.3:
        return bytes([rng.randrange(256)]) * rng.randrange(1, 200)
    if roll < 0.35:
        return rng.randbytes(rng.choice((100_000, 1_000_000)))
    return rng.randbytes(rng.randrange(1, 300))


class MessageCases:
    """Cases for one protobuf message type: garbage, mutations of real (seed) messages, hostile messages."""

    def __init__(self, message_cls: Any, seeds: Sequence[bytes], vocabulary: Sequence[str] = ()) -> None:
        self.message_cls = message_cls
        self.seeds = list(seeds) or [b""]
        self.vocabulary = list(vocabulary)

    def make(self, rng: random.Random) -> tuple[str, bytes]:
        roll = rng.random()
        if roll < 0.2:
            return "garbage", garbage(rng)
        if roll < 0.55:
            return "mutated", mutate(rng.choice(self.seeds), rng, self.seeds)
        if roll < 0.95:
            data = hostile_message(self.message_cls, rng, self.vocabulary).SerializeToString()
            if rng.random() < 0.1:
                data += unknown_fields(rng)
            return "hostile", data
        return "valid", rng.choice(self.seeds)


# ----------------------------------------------------------------------------------------------- statistics
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?")
_QUOTED = re.compile(r"'[^']{0,400}'|\"[^\"]{0,400}\"")


def reason_shape(reason: str) -> str:
    """A rejection's reason with the input it quotes and its numbers blanked: its kind, for counting."""
    shape = _QUOTED.sub("'…'", reason)
    shape = _NUMBER.sub("N", shape)
    return shape[:160]


@dataclass
class Stats:
    entry_point: str
    kind: str
    cases: int = 0
    accepted: int = 0
    rejected: int = 0
    crashes: int = 0
    hangs: int = 0
    unexplained: int = 0
    canary_calls: int = 0
    canary_failures: int = 0
    canary_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    regression_cases: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    # Per label (a gRPC method, a form): crashes, hangs, unexplained rejections, busy seconds, rejection kinds.
    label_bad: Counter[tuple[str, str]] = field(default_factory=Counter)
    label_busy_s: dict[str, float] = field(default_factory=dict)
    label_rejections: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    subprocess_cases: int = 0
    subprocess_seconds: float = 0.0
    subprocess_mismatches: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def note_failure(self, what: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(what[:600])

    def row(self) -> dict[str, Any]:
        canary = sorted(self.canary_ms)

        def pct(q: float) -> float | None:
            return round(canary[min(len(canary) - 1, int(q * len(canary)))], 2) if canary else None

        return {
            "entry_point": self.entry_point,
            "kind": self.kind,
            "cases": self.cases,
            "crashes": self.crashes,
            "hangs": self.hangs,
            "unexplained_rejections": self.unexplained,
            "distinct_rejections": len(self.rejections),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "canary_calls": self.canary_calls,
            "canary_failures": self.canary_failures,
            "canary_p50_ms": pct(0.5),
            "canary_p99_ms": pct(0.99),
            "regression_cases_replayed": self.regression_cases,
            "seconds": round(self.seconds, 1),
            "cases_per_s": round(self.cases / self.seconds, 1) if self.seconds else None,
            "cases_by_label": dict(sorted(self.by_label.items())),
            "cases_by_kind": dict(sorted(self.by_kind.items())),
            "statuses": dict(self.statuses.most_common()),
            "top_rejections": [
                {"status": status, "reason": shape, "count": count}
                for (status, shape), count in self.rejections.most_common(12)
            ],
            "subprocess_cases": self.subprocess_cases,
            "subprocess_seconds": round(self.subprocess_seconds, 1),
            "subprocess_status_mismatches": self.subprocess_mismatches,
            "failures": self.failures,
            "notes": self.notes,
            **self.extra,
        }

    def label_rows(self) -> list[dict[str, Any]]:
        """One row per label (a gRPC server's methods): its cases, failures and rejection kinds. ``cases_per_s``
        is its cases over the whole target's time (the methods share the run, interleaved); ``busy_s`` the time
        its own calls took (overlapping, when the target runs calls at once)."""
        rows = []
        for label, cases in sorted(self.by_label.items()):
            rows.append({
                "entry_point": f"{self.entry_point}/{label}",
                "kind": f"{self.kind}-method",
                "parent": self.entry_point,
                "cases": cases,
                "crashes": self.label_bad[(label, "crash")],
                "hangs": self.label_bad[(label, "hang")],
                "unexplained_rejections": self.label_bad[(label, "unexplained")],
                "distinct_rejections": len(self.label_rejections.get(label, ())),
                "busy_s": round(self.label_busy_s.get(label, 0.0), 1),
                "seconds": round(self.seconds, 1),
                "cases_per_s": round(cases / self.seconds, 1) if self.seconds else None,
            })
        return rows

    @property
    def clean(self) -> bool:
        return not (self.crashes or self.hangs or self.unexplained or self.canary_failures)


# --------------------------------------------------------------------------------------------------- corpus
def corpus_of(entry_point: str, root: Path = CORPUS_DIR) -> list[Case]:
    folder = root / entry_point
    if not folder.is_dir():
        return []
    return [Case.from_json(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def save_to_corpus(entry_point: str, case: Case, why: str, root: Path = CORPUS_DIR) -> Path:
    folder = root / entry_point
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.digest()}.json"
    path.write_text(json.dumps({**case.to_json(), "why": why[:1000]}, indent=1) + "\n")
    return path


# --------------------------------------------------------------------------------------------------- runner
ProgressFn = Callable[[Stats, int], None]


class Watchdog:
    """The per-case time limit, from a thread of its own: an in-process entry point (a loader, a CLI, the batch
    processor) blocks the event loop, so ``asyncio.wait_for`` cannot see a case that never comes back.

    At ``limit_s`` it marks the case in progress a hang, keeps the main thread's stack (where it was stuck) and
    saves the case to the corpus at once (the case may never return); at ``abort_s`` it calls ``on_abort``,
    which writes the report so far and ends the process (a thread stuck in native code cannot be stopped).
    It polls (4 times a second) rather than being woken per case: a wake-up per case cost ~1 ms of lock
    hand-over, more than many cases."""

    POLL_S = 0.25

    def __init__(self, limit_s: float, abort_s: float, on_fire: Callable[[Case, str], None],
                 on_abort: Callable[[], None] | None) -> None:
        self.limit_s, self.abort_s = limit_s, abort_s
        self.on_fire, self.on_abort = on_fire, on_abort
        self._main = threading.main_thread().ident
        # (case, started, serial): replaced as one object by the fuzzing thread, read by the watchdog.
        self._current: tuple[Case, float, int] | None = None
        self._serial = 0
        self._fired_serial = -1
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fuzz-watchdog", daemon=True)
        self._thread.start()

    def arm(self, case: Case) -> None:
        self._serial += 1
        self._current = (case, time.monotonic(), self._serial)

    def disarm(self) -> bool:
        """End the case; True when the watchdog fired on it."""
        current, self._current = self._current, None
        return current is not None and self._fired_serial == current[2]

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._stopped.wait(self.POLL_S):
            current = self._current
            if current is None:
                continue
            case, started, serial = current
            elapsed = time.monotonic() - started
            if self._fired_serial != serial and elapsed >= self.limit_s:
                self._fired_serial = serial
                frame = sys._current_frames().get(self._main or 0)
                # Innermost frame first: the report keeps the first few hundred characters.
                stack = "".join(reversed(traceback.format_stack(frame)[-6:])) if frame is not None else "?"
                self.on_fire(case, stack)
            if self._fired_serial == serial and elapsed >= self.abort_s and self.on_abort is not None:
                self.on_abort()
                return


async def run_target(
    target: Target,
    cases: int,
    *,
    seed: int = 1,
    hang_s: float = 10.0,
    canary_timeout_s: float = 5.0,
    corpus_root: Path = CORPUS_DIR,
    save_failures: bool = True,
    progress: ProgressFn | None = None,
    max_seconds: float | None = None,
    subprocess_rate: float = 0.01,
    subprocess_share: float = 0.1,
    on_abort: Callable[[Stats], None] | None = None,
) -> Stats:
    """Fuzz ``target`` with its regression corpus and then ``cases`` generated cases; return the counts.

    ``max_seconds`` bounds the generated cases' time (``make fuzz`` stays bounded on a slow machine): the
    run then stops early and says so (``stopped_by_time_budget``).

    Targets that call their entry point in process (``subprocess_argv``) also run a sample of the generated
    cases as a fresh process, judged by the same oracle: ``subprocess_rate`` of the cases, but no more than
    ``subprocess_share`` of the run's time (one process of the replay CLI costs ~2.5 s, most of it imports).
    ``on_abort``: called with the counts so far when a case is stuck past 4x ``hang_s`` (then the process ends).
    """
    stats = Stats(target.name, target.kind)
    rng = random.Random(f"{seed}:{target.name}")
    sample_rng = random.Random(f"{seed}:{target.name}:subprocess")  # apart, so the cases stay the same
    started = time.perf_counter()
    await target.start()
    stop_canary = asyncio.Event()

    # Cases over the time limit, to run again alone after the run: (case, why, from_corpus).
    suspects: list[tuple[Case, str, bool]] = []
    # Corpus files the watchdog wrote at once (the case may never come back), removed if the retry clears it.
    provisional: dict[str, Path] = {}
    stacks: dict[str, str] = {}

    def fired(case: Case, stack: str) -> None:
        why = f"hang: no answer within {hang_s:g} s (watchdog); stuck at (innermost first):\n{stack}"
        stacks[case.digest()] = why
        if save_failures:
            path = corpus_root / target.name / f"{case.digest()}.json"
            existed = path.exists()
            save_to_corpus(target.name, case, why, corpus_root)
            if not existed:
                provisional[case.digest()] = path

    def aborted() -> None:
        # Stuck past 4x the limit (first run or the retry alone): a hang without a retry; the process ends.
        stats.hangs += 1
        stats.note_failure(next(iter(stacks.values()), "hang: stuck past 4x the limit"))
        stats.seconds = time.perf_counter() - started
        stats.extra["aborted_by_watchdog"] = True
        if on_abort is not None:
            on_abort(stats)
        os._exit(3)

    watchdog = Watchdog(hang_s, 4 * hang_s, fired, aborted if on_abort is not None else None)

    # Cleared while a failed canary is tried again alone: workers start no new case, the ones in flight finish.
    running = asyncio.Event()
    running.set()
    in_flight = [0]

    async def one_canary() -> None:
        stats.canary_calls += 1
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(target.canary(), canary_timeout_s)
        except Exception as error:
            first = f"{type(error).__name__}: {error}"
        else:
            stats.canary_ms.append((time.perf_counter() - t0) * 1000)
            return
        running.clear()
        try:
            drained = time.perf_counter() + hang_s
            while in_flight[0] > 0 and time.perf_counter() < drained:
                await asyncio.sleep(0.01)
            t1 = time.perf_counter()
            await asyncio.wait_for(target.canary(), canary_timeout_s)
        except Exception as error:
            stats.canary_failures += 1
            stats.note_failure(f"canary failed beside the fuzz ({first}) and alone: {type(error).__name__}: {error}")
        else:
            stats.extra["canaries_late"] = stats.extra.get("canaries_late", 0) + 1
            stats.canary_ms.append((time.perf_counter() - t0) * 1000)
            if len(stats.notes) < 40:
                stats.notes.append(f"canary late beside the fuzz ({first[:200]}); alone it answered in "
                                   f"{(time.perf_counter() - t1) * 1000:.0f} ms")
        finally:
            running.set()

    async def canary_loop() -> None:
        while not stop_canary.is_set():
            await one_canary()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_canary.wait(), target.canary_interval_s)

    def count(case: Case, outcome: Outcome | None, why: str, from_corpus: bool, via: str = "") -> None:
        label = case.label
        if outcome is not None:
            stats.statuses[outcome.status or "?"] += 1
            if outcome.crash:
                stats.crashes += 1
                stats.label_bad[(label, "crash")] += 1
                why = f"crash{via}: {outcome.status}: {outcome.reason}"
            elif outcome.accepted:
                stats.accepted += 1
            else:
                stats.rejected += 1
                if not outcome.status or not outcome.reason.strip():
                    stats.unexplained += 1
                    stats.label_bad[(label, "unexplained")] += 1
                    why = f"rejection{via} without a status or reason: {outcome.status!r} {outcome.reason!r}"
                else:
                    kind = (outcome.status, reason_shape(outcome.reason))
                    stats.rejections[kind] += 1
                    stats.label_rejections.setdefault(label, set()).add(kind)
        if why:
            stats.note_failure(f"{label} ({case.kind}): {why}")
            if save_failures and not from_corpus:
                save_to_corpus(target.name, case, why, corpus_root)

    async def one(case: Case, from_corpus: bool) -> Outcome | None:
        t0 = time.perf_counter()
        why = ""
        outcome: Outcome | None = None
        # One case at a time is watched: targets that overlap cases (the gRPC APIs) do not block the loop, and
        # wait_for sees theirs.
        watched = target.concurrency == 1
        if watched:
            watchdog.arm(case)
        in_flight[0] += 1
        try:
            outcome = await asyncio.wait_for(target.run(case), hang_s)
        except TimeoutError:
            why = f"hang: no answer within {hang_s:g} s"
        except Exception as error:
            stats.crashes += 1
            stats.label_bad[(case.label, "crash")] += 1
            why = f"crash: {type(error).__name__}: {error}"
        finally:
            in_flight[0] -= 1
            watchdog_fired = watchdog.disarm() if watched else False
        took = time.perf_counter() - t0
        if not why and (watchdog_fired or took > hang_s):  # an in-process call that blocked the loop that long
            why = f"hang: took {took:.1f} s"
        stats.cases += 1
        stats.by_label[case.label] += 1
        stats.by_kind[case.kind] += 1
        stats.label_busy_s[case.label] = stats.label_busy_s.get(case.label, 0.0) + took
        if from_corpus:
            stats.regression_cases += 1
        if why.startswith("hang"):  # a suspect: judged by its retry alone, after the run
            suspects.append((case, why, from_corpus))
            return None
        count(case, outcome, why, from_corpus)
        return outcome

    async def retry_alone(case: Case, first_why: str, from_corpus: bool) -> None:
        """A suspect run again with nothing else running here: over the limit again, it is a hang."""
        t0 = time.perf_counter()
        why = ""
        outcome: Outcome | None = None
        watchdog.arm(case)
        try:
            outcome = await asyncio.wait_for(target.run(case), hang_s)
        except TimeoutError:
            why = f"hang: no answer within {hang_s:g} s, twice (the second time alone)"
        except Exception as error:
            why = f"crash (on the retry alone): {type(error).__name__}: {error}"
            stats.crashes += 1
            stats.label_bad[(case.label, "crash")] += 1
        finally:
            fired_again = watchdog.disarm()
        took = time.perf_counter() - t0
        if not why and (fired_again or took > hang_s):
            why = f"hang: took {took:.1f} s, twice (the second time alone)"
        if why.startswith("hang"):
            stats.hangs += 1
            stats.label_bad[(case.label, "hang")] += 1
            why = f"{why}; first: {first_why}; {stacks.get(case.digest(), '')}".rstrip("; ")
            provisional.pop(case.digest(), None)  # a confirmed hang stays in the corpus
            count(case, None, why, from_corpus)
            return
        stats.extra["hang_suspects_cleared"] = stats.extra.get("hang_suspects_cleared", 0) + 1
        if len(stats.notes) < 40:
            stats.notes.append(f"hang suspect cleared: {case.label} ({case.kind}) {first_why.splitlines()[0]}; "
                               f"alone it took {took:.2f} s")
        path = provisional.pop(case.digest(), None)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        count(case, outcome, why, from_corpus)

    async def in_subprocess(case: Case, in_process: Outcome | None) -> None:
        argv = target.subprocess_argv(case)
        if argv is None:
            return
        t0 = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        why = ""
        outcome: Outcome | None = None
        # A fresh interpreter's imports come on top of the case (2.5 s for the replay CLI on a quiet machine, 15 s
        # at load average 14): the process gets 3x the case's limit.
        limit_s = 3 * hang_s
        for attempt in (1, 2):  # over the limit once: run again (alone: the in-process cases wait for it)
            try:
                out, err = await asyncio.wait_for(process.communicate(), limit_s)
            except TimeoutError:
                process.kill()
                await process.wait()
                if attempt == 1:
                    stats.extra["hang_suspects"] = stats.extra.get("hang_suspects", 0) + 1
                    process = await asyncio.create_subprocess_exec(
                        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
                    )
                    continue
                why = f"hang (subprocess): no exit within {limit_s:g} s, twice"
                stats.hangs += 1
                stats.label_bad[(case.label, "hang")] += 1
            else:
                outcome = target.subprocess_outcome(process.returncode or 0, out.decode(errors="replace"),
                                                    err.decode(errors="replace"))
                if attempt == 2:
                    stats.extra["hang_suspects_cleared"] = stats.extra.get("hang_suspects_cleared", 0) + 1
                    if len(stats.notes) < 40:
                        stats.notes.append(f"hang suspect cleared: {case.label} ({case.kind}) as a process: "
                                           f"no exit within {limit_s:g} s, the second run exited")
            break
        stats.subprocess_cases += 1
        stats.subprocess_seconds += time.perf_counter() - t0
        stats.cases += 1
        stats.by_kind[f"{case.kind} (subprocess)"] += 1
        stats.by_label[case.label] += 1
        count(case, outcome, why, False, via=" (subprocess)")
        if outcome is not None and in_process is not None and outcome.status != in_process.status:
            stats.subprocess_mismatches += 1
            if stats.subprocess_mismatches <= 5:
                stats.notes.append(f"in process {in_process.status!r}, as a process {outcome.status!r}: "
                                   f"{json.dumps(case.extra)[:300]}")

    canary_task = asyncio.ensure_future(canary_loop()) if target.canary_interval_s > 0 else None
    try:
        for case in corpus_of(target.name, corpus_root):
            await one(case, True)
        next_index = 0
        last_report = time.perf_counter()

        deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        stats.extra["stopped_by_time_budget"] = False
        sampled = subprocess_rate > 0 and type(target).subprocess_argv is not Target.subprocess_argv

        async def worker() -> None:
            nonlocal next_index, last_report
            while next_index < cases:
                if (deadline is not None and time.perf_counter() > deadline) or STOP_REQUESTED.is_set():
                    stats.extra["stopped_by_time_budget"] = True
                    break
                if not running.is_set():  # a canary is tried again alone
                    await running.wait()
                    continue
                next_index += 1
                case = target.make_case(rng)
                outcome = await one(case, False)
                if (sampled and sample_rng.random() < subprocess_rate
                        and stats.subprocess_seconds <= subprocess_share * (time.perf_counter() - started)):
                    await in_subprocess(case, outcome)
                if target.runner_canary and target.canary_interval_s <= 0 and stats.cases % target.canary_every == 0:
                    await one_canary()
                if progress is not None and time.perf_counter() - last_report >= 2.0:
                    last_report = time.perf_counter()
                    progress(stats, cases)

        await asyncio.gather(*(worker() for _ in range(target.concurrency)))
        stats.extra["hang_suspects"] = stats.extra.get("hang_suspects", 0) + len(suspects)
        stats.extra.setdefault("hang_suspects_cleared", 0)
        for case, why, from_corpus in suspects:
            await retry_alone(case, why, from_corpus)
        if target.runner_canary and target.canary_interval_s <= 0:
            await one_canary()
        stats.seconds = time.perf_counter() - started
        await target.finish(stats)
    finally:
        watchdog.stop()
        stop_canary.set()
        if canary_task is not None:
            await canary_task
        await target.stop()
    stats.seconds = time.perf_counter() - started
    if progress is not None:
        progress(stats, cases)
    return stats


def vocabulary_of(*groups: Iterable[str]) -> list[str]:
    words: list[str] = []
    for group in groups:
        words.extend(group)
    return sorted(set(words))
