"""Fuzz targets run in process: the file loaders, the CLIs and the console's web forms.

- ``loader.network-file``: ``services.network.load_network`` on mutated real network files (the shipped
  demo city's text and a hand-written line), YAML-level hostile documents and garbage bytes. Accepted, or
  ``NetworkFileError`` naming the file, the entry and the problem; any other exception is a crash.
- ``loader.history-file``: ``read_history`` on mutated historian CSV exports. Accepted (bad rows refused and
  counted, with file:line examples), or ``HistoryFileError`` naming the file; anything else is a crash.
- ``cli.*``: the replay CLI and the workorders ``ctl`` client called in process with hostile arguments
  (unknown options, garbage values, missing and garbage files; ``ctl`` against an address where nothing
  listens and against a live server with garbage values). They must exit with a status and say why on stderr;
  a traceback or an exit through an exception is a crash.

Loaders and CLIs run in this process (``main(argv)``, ``SystemExit`` caught, stdout and stderr captured), on
files in a tmpfs scratch folder; a per-case watchdog (``core.Watchdog``) catches a case that never returns. A
sample of the cases (1 %, at most a tenth of the run's time) also runs as a fresh process
(``python -m services.workorders ctl ...``, ``python -m services.leakdetect replay ...``,
``python -m benchmarks.fuzz.load_file``), judged by the same oracle, so that the real process boundary (exit
status, a traceback on stderr, imports) is exercised too; its status is compared with the in-process one.
- ``web.console-forms``: the console's forms (sign-in, the order actions, the queue filters) through its
  ASGI app with hostile fields, encodings and sizes, on the fakes of its ports. 5xx or a traceback is a crash;
  every 4xx must say why.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import random
import re
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from .core import TRACEBACK, Case, Outcome, Target, garbage, hostile_text, mutate, scratch_dir

REPO = Path(__file__).resolve().parents[2]
# libyaml when present: the pure-Python emitter cost 4x the loader it feeds.
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LONG_LINE = REPO / "tests/fixtures/networks/long_line.yaml"


def _loader_outcome(code: int, stdout: str, stderr: str) -> Outcome:
    """A sampled loader case as a process (``benchmarks.fuzz.load_file``): its status on stdout, or the error
    class and message on stderr with exit 2, as the in-process case reports them."""
    if TRACEBACK.search(stderr) or code not in (0, 2):
        return Outcome.crashed(f"exit {code}", stderr[-1500:])
    if code == 0:
        return Outcome.ok(stdout.strip() or "?")
    status, _, reason = stderr.strip().partition(": ")
    return Outcome.refused(status, reason)


# ============================================================================================ network file
def _yaml_hostile(rng: random.Random, document: Any, depth: int = 0) -> Any:
    """The document with one value somewhere replaced by a hostile one (wrong type, extreme, huge, None)."""
    if isinstance(document, dict) and document:
        key = rng.choice(list(document))
        copy = dict(document)
        if rng.random() < 0.6 and depth < 4:
            copy[key] = _yaml_hostile(rng, document[key], depth + 1)
        elif rng.random() < 0.5:
            copy[key] = rng.choice((None, -1, 0, 1e308, float("nan"), float("inf"), "", [], {}, "x" * 10_000, True,
                                    [[[]]], -(2**70), hostile_text(rng, ())))
        else:
            copy.pop(key)
        return copy
    if isinstance(document, list) and document:
        copy_list = list(document)
        i = rng.randrange(len(copy_list))
        roll = rng.random()
        if roll < 0.5 and depth < 4:
            copy_list[i] = _yaml_hostile(rng, copy_list[i], depth + 1)
        elif roll < 0.7:
            copy_list.append(copy_list[i])  # a duplicate entry
        elif roll < 0.85:
            del copy_list[i]
        else:
            copy_list = copy_list * rng.choice((2, 50))
        return copy_list
    return rng.choice((None, "x", -1, 1e308, float("nan"), [], {"a": 1}, hostile_text(rng, ())))


class NetworkFileTarget(Target):
    name = "loader.network-file"
    kind = "loader"
    canary_every = 2000
    blocking = True

    def __init__(self) -> None:
        self.sources = [
            (REPO / "services/network/data/demo_city.yaml").read_bytes(),
            LONG_LINE.read_bytes(),
        ]
        self.documents = [yaml.safe_load(s) for s in self.sources]
        self.folder = scratch_dir("fuzz-network-")
        self.path = self.folder / "network.yaml"

    async def stop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # the cases' file and the sampled processes' one

    def make_case(self, rng: random.Random) -> Case:
        roll = rng.random()
        # The small network most of the time: the demo city costs ~16x as much to read and validate (2 % of
        # 10^5 cases is still 2,000 of the demo city's).
        source = 1 if rng.random() < 0.98 else 0
        if roll < 0.45:
            document = _yaml_hostile(rng, self.documents[source])
            for _ in range(rng.randrange(0, 3)):
                document = _yaml_hostile(rng, document)
            try:
                if rng.random() < 0.7:
                    # JSON is YAML's flow style: the same loader, parser and checks, and json.dumps is ~20x
                    # cheaper than PyYAML's representer (which is Python even with libyaml's emitter: 2/3 of a
                    # case). NaN and infinities have no JSON form: those documents go through yaml.dump.
                    data = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")
                else:
                    data = yaml.dump(document, Dumper=_SAFE_DUMPER, allow_unicode=True).encode()
            except (TypeError, ValueError, RecursionError):
                try:
                    data = yaml.dump(document, Dumper=_SAFE_DUMPER, allow_unicode=True).encode()
                except (yaml.YAMLError, ValueError, RecursionError):
                    data = garbage(rng)
            except yaml.YAMLError:
                data = garbage(rng)
            return Case("hostile", "network.yaml", data)
        if roll < 0.85:
            return Case("mutated", "network.yaml", mutate(self.sources[source], rng))
        if roll < 0.95:
            return Case("garbage", "network.yaml", rng.choice((
                garbage(rng), b"a: &a [*a, *a]", b"- " * 1000, b"{" * 5000, b"!!python/object:os.system x",
                b"name: x\nname: y\n", b"\xef\xbb\xbfname: x", b"\x00\x01", b"a: " + b"[" * 2000,
                b"lol: &a [1]\n" + b"".join(b"l%d: &l%d [*%s,*%s,*%s]\n" % (i, i, b"a" if i == 0 else b"l%d" % (i - 1),
                                           b"a" if i == 0 else b"l%d" % (i - 1), b"a" if i == 0 else b"l%d" % (i - 1))
                                           for i in range(12)),
            )))
        return Case("valid", "network.yaml", self.sources[source])

    async def run(self, case: Case) -> Outcome:
        from services.network import NetworkFileError, load_network

        self.path.write_bytes(case.data)
        try:
            load_network(self.path)
        except NetworkFileError as error:
            text = str(error)
            return Outcome.refused("NetworkFileError", text if self.path.name in text else "")
        except RecursionError as error:
            return Outcome.crashed("RecursionError", str(error))
        return Outcome.ok("loaded")

    def subprocess_argv(self, case: Case) -> list[str] | None:
        path = self.folder / "subprocess.yaml"
        path.write_bytes(case.data)
        return [sys.executable, "-m", "benchmarks.fuzz.load_file", "network", str(path)]

    def subprocess_outcome(self, code: int, stdout: str, stderr: str) -> Outcome:
        outcome = _loader_outcome(code, stdout, stderr)
        if outcome.status == "NetworkFileError" and "subprocess.yaml" not in outcome.reason:
            return Outcome.refused("NetworkFileError", "")  # the in-process oracle: the error names the file
        return outcome

    async def canary(self) -> None:
        from services.network import load_network

        self.path.write_bytes(self.sources[1])
        network = load_network(self.path)
        if "L-01" not in network.segments:
            raise AssertionError("the valid network file lost its segment")


# ============================================================================================ history file
def history_tags() -> Any:
    """The tags the history files are read against: the long-line fixture's."""
    import numpy as np

    from services.leakdetect.adapters.history_file import TagInfo
    from services.network import load_network

    tags = list(load_network(LONG_LINE).tags.values())
    return TagInfo(tag_ids=[t.tag_id for t in tags], units=[t.unit for t in tags],
                   range_min=np.array([t.range_min for t in tags], float),
                   range_max=np.array([t.range_max for t in tags], float))


def history_status(history: Any) -> str:
    return "read" if not history.refused_rows else "read, rows refused"


class HistoryFileTarget(Target):
    name = "loader.history-file"
    kind = "loader"
    canary_every = 2000
    blocking = True

    def __init__(self) -> None:
        self.tags = history_tags()
        self.tag_ids = list(self.tags.tag_ids)
        self._ranges = {t: (float(lo), float(hi))
                        for t, lo, hi in zip(self.tag_ids, self.tags.range_min, self.tags.range_max, strict=True)}
        self.folder = scratch_dir("fuzz-history-")
        rng = random.Random(5)
        self.seeds = [self._valid(rng) for _ in range(5)]

    def _valid(self, rng: random.Random) -> bytes:
        lines = ["tag_id,time_unix_s,value,quality"]
        t0 = 1_767_225_600 + rng.randrange(10**6)
        for i in range(rng.randrange(5, 60)):
            tag = rng.choice(self.tag_ids)
            low, high = self._ranges[tag]
            lines.append(f"{tag},{t0 + i},{rng.uniform(low, high):.3f},1")
        return ("\n".join(lines) + "\n").encode()

    async def stop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # with what a replay case wrote there (--out, --json)

    def make_case(self, rng: random.Random) -> Case:
        roll = rng.random()
        suffix = ".csv" if rng.random() < 0.97 else rng.choice((".parquet", ".txt", ""))
        if roll < 0.5:
            data = mutate(rng.choice(self.seeds), rng, self.seeds)
            kind = "mutated"
        elif roll < 0.85:
            lines = rng.choice(self.seeds).decode().splitlines()
            i = rng.randrange(1, len(lines))
            cells = lines[i].split(",")
            j = rng.randrange(len(cells))
            cells[j] = rng.choice((hostile_text(rng, self.tag_ids), "nan", "inf", "-inf", "1e400", "", "-1",
                                   "99999999999999999999", "0x10", "1_000", " 1", "１"))
            if rng.random() < 0.2:
                cells = cells[: rng.randrange(len(cells) + 1)] + ["extra"] * rng.randrange(3)
            lines[i] = ",".join(cells)
            if rng.random() < 0.1:
                lines[0] = rng.choice(("tag,time,value", "tag_id;time_unix_s;value;quality", "",
                                       "tag_id,tag_id,value,quality"))
            data = ("\n".join(lines) + "\n").encode()
            kind = "hostile"
        elif roll < 0.95:
            data = garbage(rng)
            kind = "garbage"
        else:
            data = rng.choice(self.seeds)
            kind = "valid"
        return Case(kind, f"history{suffix}", data)

    async def run(self, case: Case) -> Outcome:
        from services.leakdetect.adapters.history_file import HistoryFileError, read_history

        path = self.folder / case.label
        path.write_bytes(case.data)
        try:
            history = read_history(path, self.tags)
        except HistoryFileError as error:
            return Outcome.refused("HistoryFileError", str(error) if str(path) in str(error) else "")
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        if history.refused_rows and not history.examples:
            return Outcome.refused("rows refused", "")  # refused rows without a file:line example
        return Outcome.ok(history_status(history))

    def subprocess_argv(self, case: Case) -> list[str] | None:
        path = self.folder / f"subprocess-{case.label}"
        path.write_bytes(case.data)
        return [sys.executable, "-m", "benchmarks.fuzz.load_file", "history", str(path)]

    def subprocess_outcome(self, code: int, stdout: str, stderr: str) -> Outcome:
        outcome = _loader_outcome(code, stdout, stderr)
        if outcome.status == "HistoryFileError" and "subprocess-" not in outcome.reason:
            return Outcome.refused("HistoryFileError", "")
        return outcome

    async def canary(self) -> None:
        from services.leakdetect.adapters.history_file import read_history

        path = self.folder / "canary.csv"
        path.write_bytes(self.seeds[0])
        history = read_history(path, self.tags)
        if history.refused_rows or history.rows == 0:
            raise AssertionError(f"valid history: {history.rows} rows, {history.refused_rows} refused")


# ==================================================================================================== CLIs
def _call_cli(main: Any, argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
            if not isinstance(exit_.code, int) and exit_.code is not None:
                err.write(str(exit_.code))
    return int(code or 0), err.getvalue()


class ReplayCliTarget(Target):
    """``python -m services.leakdetect replay`` in process."""

    name = "cli.leakdetect-replay"
    kind = "cli"
    canary_every = 5000
    blocking = True

    def __init__(self) -> None:
        self.history = HistoryFileTarget()
        self.folder = self.history.folder
        # A copy: the cases may name the network file as --json or --out, and nothing in the checkout may be
        # written (a first version of this target overwrote the fixture itself).
        self.network = self.folder / "long_line.yaml"
        self.network.write_bytes(LONG_LINE.read_bytes())
        self._cwd = Path.cwd()

    async def start(self) -> None:
        from services.leakdetect.entrypoints import replay

        # Relative --out / --json paths land in the scratch folder, never in the checkout.
        os.chdir(self.folder)
        # The parser is built from constants on every call (~1.5 ms, a tenth of a case): once, in process (the
        # sampled subprocess cases build it as a terminal does).
        self._parser = replay.parser
        replay.parser = functools.cache(replay.parser)  # type: ignore[assignment]
        # Warm-up: the first replay compiles (or loads) the numba kernels and imports what it plots with, once
        # per process; that is not a case's time (a first replay on a cold cache took 70 s, a false "hang").
        await self.canary()
        import matplotlib.pyplot  # noqa: F401

    async def stop(self) -> None:
        from services.leakdetect.entrypoints import replay

        replay.parser = self._parser  # type: ignore[method-assign]
        os.chdir(self._cwd)
        await self.history.stop()

    def make_case(self, rng: random.Random) -> Case:
        args: list[str] = []
        options = ["--network", "--readings", "--out", "--json", "--status-interval-s", "--quiet", "--bogus", "-h"]
        history_case = self.history.make_case(rng)
        for _ in range(rng.randrange(0, 6)):
            option = rng.choice(options)
            args.append(option)
            if option in ("--quiet", "--bogus", "-h") or rng.random() < 0.1:
                continue
            value = rng.choice((
                "@network", "@history", "/nonexistent/x.yaml", str(self.folder), "", "-1", "nan", "inf", "0",
                hostile_text(rng, ()), "/dev/null", "1e9",
            ))
            args.append(value)
        if rng.random() < 0.5:  # most of the time the required pair, so that the files are read
            args = ["--network", "@network", "--readings", "@history", *args]
        args = [a.replace("\x00", "") for a in args]
        return Case(history_case.kind, "replay", history_case.data, {"argv": args, "suffix": history_case.label})

    def _argv(self, case: Case) -> list[str]:
        history = self.folder / case.extra.get("suffix", "history.csv")
        history.write_bytes(case.data)
        # Placeholders, so that a saved case replays in any scratch folder.
        argv = [str(history) if a == "@history" else str(self.network) if a == "@network" else a
                for a in case.extra["argv"]]
        # Absolute paths outside the scratch folder are pointed into it (relative ones land there: cwd).
        argv = [a if not a.startswith("/") or a.startswith(str(self.folder)) or a == "/dev/null"
                else str(self.folder / "out") for a in argv]
        self.network.write_bytes(LONG_LINE.read_bytes())  # a case before may have written over the copy
        return argv

    async def run(self, case: Case) -> Outcome:
        from services.leakdetect.entrypoints.replay import main

        code, err = _call_cli(main, self._argv(case))
        return _cli_outcome(code, err)

    def subprocess_argv(self, case: Case) -> list[str] | None:
        return [sys.executable, "-m", "services.leakdetect", "replay", *self._argv(case)]

    async def canary(self) -> None:
        from services.leakdetect.entrypoints.replay import main

        history = self.folder / "canary.csv"
        history.write_bytes(self.history.seeds[0])
        code, err = _call_cli(main, ["--network", str(self.network), "--readings", str(history), "--quiet"])
        if code != 0:
            raise AssertionError(f"valid replay exited {code}: {err[-300:]}")


def _cli_outcome(code: int, err: str) -> Outcome:
    if TRACEBACK.search(err):
        return Outcome.crashed(f"exit {code}", err[-1500:])
    if code == 0:
        return Outcome.ok("exit 0")
    return Outcome.refused(f"exit {code}", err.strip().splitlines()[-1] if err.strip() else "")


class CtlCliTarget(Target):
    """``python -m services.workorders ctl`` in process: garbage arguments, an address where nothing listens,
    and a live workorders server (``server_address``) given garbage values with a valid token."""

    name = "cli.workorders-ctl"
    kind = "cli"
    canary_every = 2000
    blocking = True

    def __init__(self, server_address: str | None = None, token: str | None = None) -> None:
        self.server_address = server_address
        self.token = token
        self.folder = scratch_dir("fuzz-ctl-")
        self.token_file = self.folder / "token"
        self.token_file.write_text(token or "not-a-token")
        self._cwd = Path.cwd()

    async def start(self) -> None:
        from services.workorders.entrypoints import ctl

        os.chdir(self.folder)  # a relative --png lands in the scratch folder
        # ctl builds its parser (40 sub-commands, ~25 ms, most of a case) on every call, from constants only:
        # in process it is built once. The sampled subprocess cases run ctl exactly as a terminal does.
        self._parser = ctl.parser
        ctl.parser = functools.cache(ctl.parser)  # type: ignore[assignment]

    async def stop(self) -> None:
        from services.workorders.entrypoints import ctl

        ctl.parser = self._parser  # type: ignore[method-assign]
        os.chdir(self._cwd)
        shutil.rmtree(self.folder, ignore_errors=True)  # the token file and any --png a case wrote

    def _main(self) -> Any:
        from services.workorders.entrypoints import ctl

        return ctl.main

    def make_case(self, rng: random.Random) -> Case:
        words = ("Dongsheng", "triaged", "wo-x", "1", "dispatcher", "problem-pipelines", "regulator-summary")
        argv: list[str] = []
        for option in ("--timeout", "--json", "--bogus"):
            if rng.random() < 0.15:
                argv.append(option)
                if option == "--timeout":
                    argv.append(rng.choice(("0", "-1", "nan", "inf", "x", "1e9", "0.5")))
        commands = ["list", "show", "hazards", "report", "audit", "work-order", "hazard", "replacement", "bogus", ""]
        command = rng.choice(commands)
        if command:
            argv.append(command)
        for _ in range(rng.randrange(0, 5)):
            argv.append(rng.choice(("--state", "--district", "--grade", "--limit", "--open", "--major", "--until",
                                    "--subject", "--png", "--note", "--command-id", "wo-1", "dispatch", "--help")))
            if rng.random() < 0.7:
                argv.append(rng.choice(("", "-1", "nan", "0", "99999999999999999999", "/nonexistent/dir/x.png",
                                        hostile_text(rng, words))))
        live = self.server_address is not None and rng.random() < 0.5
        argv = [a.replace("\x00", "") for a in argv]
        return Case("hostile", command or "(none)", b"", {"argv": argv, "live": live})

    def _argv(self, case: Case) -> list[str]:
        address = self.server_address if case.extra.get("live") and self.server_address else "127.0.0.1:1"
        return ["--address", address, "--token-file", str(self.token_file), "--timeout", "2", *case.extra["argv"]]

    async def run(self, case: Case) -> Outcome:
        code, err = _call_cli(self._main(), self._argv(case))
        return _cli_outcome(code, err)

    def subprocess_argv(self, case: Case) -> list[str] | None:
        return [sys.executable, "-m", "services.workorders", "ctl", *self._argv(case)]

    async def canary(self) -> None:
        if self.server_address is None:
            code, err = _call_cli(self._main(), ["--help"])
        else:
            code, err = _call_cli(self._main(), ["--address", self.server_address, "--token-file",
                                                 str(self.token_file), "list", "--limit", "5"])
        if code != 0:
            raise AssertionError(f"ctl exited {code}: {err[-300:]}")


# =========================================================================================== console forms
class ConsoleFormsTarget(Target):
    name = "web.console-forms"
    kind = "web"
    canary_every = 1000

    def __init__(self) -> None:
        self.client: Any = None
        self._csrf = ""

    async def start(self) -> None:
        from services.console.domain.schematic import NodePoint, SegmentLine
        from services.console.entrypoints.web import ConsoleDeps, create_app
        from services.console.service_layer.live import LiveHub
        from tests.unit.console.fakes import FakeClock, FakeLeak, FakeTokens, FakeUsers, FakeWorkOrders, order

        api = FakeWorkOrders()
        api.add(order("wo-ds", district="Dongsheng"))
        api.add(order("wo-kb", district="Kangbashi", segment="KB-M01", grade=2))
        self.api = api
        users = FakeUsers()
        users.add("li", "dispatcher", ["Dongsheng"])
        deps = ConsoleDeps(
            api=api, leak=FakeLeak(), users=users, tokens=FakeTokens(), clock=FakeClock(),
            hub=LiveHub(api, FakeTokens().service_token), districts=("Dongsheng", "Kangbashi"),
            nodes=(NodePoint("A", 0, 0), NodePoint("B", 1000, 0)),
            segments=(SegmentLine("DS-M02", "Dongsheng", "A", "B", 1000.0),),
            session_secret="k" * 40, session_ttl_s=3600, start_hub=False,
        )
        # The ASGI app called on this event loop with the messages a server hands it (``AsgiClient``):
        # starlette's TestClient ran it on a thread of its own and handed every message across (~40 % of a
        # case), and httpx parsed every URL character by character (~20 %). Its lifespan has nothing to start
        # here (no live hub).
        self.client = AsgiClient(create_app(deps))
        await self._sign_in()

    async def _sign_in(self) -> None:
        page = (await self.client.get("/login")).text
        self._csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        reply = await self.client.request("POST", "/login", body=urllib.parse.urlencode(
            {"csrf_token": self._csrf, "username": "li", "password": "secret"}).encode(),
            content_type="application/x-www-form-urlencoded")
        if reply.status_code != 303:
            raise RuntimeError(f"console sign-in failed: {reply.status_code}")
        page = (await self.client.get("/orders/wo-ds")).text
        self._csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.client = None

    def make_case(self, rng: random.Random) -> Case:
        form = rng.choice(("action", "action", "login", "queue"))
        fields: dict[str, str] = {}
        names = {"action": ["verb", "note", "crew", "reason", "eta_minutes", "grade", "expected_version", "csrf_token"],
                 "login": ["username", "password", "next", "csrf_token"],
                 "queue": ["state", "grade", "district", "segment", "sort", "page"]}[form]
        vocabulary = ("dispatch", "acknowledge", "make_safe", "close", "li", "secret", "/queue", "Dongsheng", "1", "3")
        for name in names:
            if rng.random() < 0.75:
                fields[name] = hostile_text(rng, vocabulary)
        if form != "queue" and rng.random() < 0.8:
            fields["csrf_token"] = "@csrf"
        encoding = rng.choice(("urlencoded", "urlencoded", "multipart", "raw"))
        body = garbage(rng) if encoding == "raw" else b""
        return Case("hostile" if encoding != "raw" else "garbage", form, body, {"fields": fields, "encoding": encoding})

    async def run(self, case: Case) -> Outcome:
        fields = {k: (self._csrf if v == "@csrf" else v) for k, v in case.extra["fields"].items()}
        path = {"action": "/orders/wo-ds/actions", "login": "/login", "queue": "/queue"}[case.label]
        encoding = case.extra["encoding"]
        if case.label == "queue":
            # Cut to what a browser sends (an HTTP client refuses URLs over 64 KiB before anything is sent).
            query = urllib.parse.urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()})[:8000]
            reply = await self.client.request("GET", path, query=query)
        elif encoding == "urlencoded":
            body = urllib.parse.urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()}).encode()
            reply = await self.client.request("POST", path, body=body,
                                              content_type="application/x-www-form-urlencoded")
        elif encoding == "multipart":
            boundary = "fuzzboundary7f3a"
            body = b"".join(
                b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                % (boundary.encode(), k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in fields.items()
            ) + b"--%s--\r\n" % boundary.encode()
            reply = await self.client.request("POST", path, body=body,
                                              content_type=f"multipart/form-data; boundary={boundary}")
        else:
            reply = await self.client.request("POST", path, body=case.data, content_type=random.Random(
                len(case.data)).choice(("application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                        "text/plain", "multipart/form-data", "application/json")))
        status = reply.status_code
        text = reply.text
        if status >= 500 or TRACEBACK.search(text):
            return Outcome.crashed(f"HTTP {status}", text[-1500:])
        if status < 400:
            # A sign-in that worked replaced the session: sign in again for the next cases.
            if case.label == "login" and status == 303:
                await self._sign_in()
            return Outcome.ok(f"HTTP {status}")
        message = re.sub(r"<[^>]+>", " ", text)
        message = re.sub(r"\s+", " ", message).strip()
        return Outcome.refused(f"HTTP {status}", message[-300:])

    async def canary(self) -> None:
        reply = await self.client.get("/queue")
        if reply.status_code in (302, 303, 307):
            await self._sign_in()
            reply = await self.client.get("/queue")
        if reply.status_code != 200 or 'data-id="wo-ds"' not in reply.text:
            raise AssertionError(f"the queue did not answer: HTTP {reply.status_code}")


class AsgiReply:
    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code, self.headers, self.body = status_code, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class AsgiClient:
    """An ASGI app called directly, one request at a time, as an HTTP/1.1 server over TLS would call it (the
    scope, one ``http.request`` message with the whole body, then ``http.disconnect``), with a cookie jar for
    the session. No redirects are followed. An exception out of the app is answered 500 (a crash)."""

    def __init__(self, app: Any, host: str = "testserver") -> None:
        self.app, self.host = app, host
        self.cookies: dict[str, str] = {}

    async def get(self, path: str) -> AsgiReply:
        return await self.request("GET", path)

    async def request(self, method: str, path: str, *, query: str = "", body: bytes = b"",
                      content_type: str = "") -> AsgiReply:
        headers = [(b"host", self.host.encode()), (b"user-agent", b"pipewarden-fuzz"), (b"accept", b"*/*")]
        if self.cookies:
            headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode()))
        if method != "GET":
            headers.append((b"content-length", str(len(body)).encode()))
            if content_type:
                headers.append((b"content-type", content_type.encode("latin-1", "replace")))
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": method, "scheme": "https", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": query.encode("ascii", "replace"), "headers": headers,
            "client": ("127.0.0.1", 50000), "server": (self.host, 443), "extensions": {}, "state": {},
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except Exception as error:  # what a server answers when the app raises: 500, the traceback logged
            import traceback

            return AsgiReply(500, [], ("Traceback (most recent call last):\n"
                                       + "".join(traceback.format_exception(error))).encode())
        if not start:
            return AsgiReply(500, [], b"the app sent no response")
        response_headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", ())]
        for name, value in response_headers:
            if name.lower() == b"set-cookie":
                self._set_cookie(value.decode("latin-1"))
        return AsgiReply(int(start["status"]), response_headers, b"".join(chunks))

    def _set_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower().replace(" ", "")
        if "max-age=0" in lowered or "expires=thu,01jan1970" in lowered or not value.strip('"'):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value
