"""No insecure default, and secrets never on a command line or in a log.

Each service without its secrets refuses to start and says why (``--dev`` is the explicit way round); the
services started the way the deployment starts them (secrets in files, or in the environment through
deploy/local/with_secrets.py) and exercised with good and bad credentials show none of the secrets in their
``ps`` argv (/proc/<pid>/cmdline) or in their logs (DEBUG).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
import httpx
import pytest
import yaml

from deploy.processes import wait_for_port
from services.contracts.pipewarden.telemetry.v1 import reading_pb2, telemetry_ingest_service_pb2
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2_grpc as tgrpc
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wpb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as wgrpc
from services.telemetry.adapters.auth import add_token
from services.topics import TELEMETRY_READINGS
from services.topics.admin import ensure_topics
from tests.browser.stack import password_of, write_users_file
from tests.fixtures.kafka import free_port
from tests.support.tokens import SIGNING_KEY, foreign_token, issue, write_keys

ROOT = Path(__file__).resolve().parents[3]
# Wall-clock readings go to a topic of their own (the session's readings topic carries other tests' replays).
READINGS = dataclasses.replace(TELEMETRY_READINGS, name="security-tests.readings.v1", partitions=1)


def _env(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
    return {**base, "PIPEWARDEN_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1", **values}


def test_without_secrets_each_service_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    cases = [
        (["-m", "services.telemetry"], {}, "no gateway tokens configured"),
        (["-m", "services.workorders", "serve"], {"PIPEWARDEN_WORKORDERS_DB_URL": f"sqlite:///{tmp_path}/w.db"},
         "PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE is not set"),
        (["-m", "services.leakdetect"], {}, "PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE is not set"),
        (["-m", "services.console", "serve"],
         {"PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE": str(tmp_path / "absent.pem"),
          "PIPEWARDEN_CONSOLE_SESSION_SECRET": "s" * 40,
          "PIPEWARDEN_CONSOLE_USERS_FILE": str(write_users_file(tmp_path / "users.yaml"))},
         "absent.pem: cannot be read"),
    ]
    # At once: each is a Python start-up and an import of its service (seconds), not work.
    started = [(args, words, subprocess.Popen([sys.executable, *args], cwd=ROOT, env=_env(**env), text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE))
               for args, env, words in cases]
    for args, words, process in started:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, (args, stderr[-2000:])
        assert words in stderr and "Traceback" not in stderr, (args, stderr[-2000:])


def test_unusable_key_files_are_refused_before_serving(tmp_path: Path) -> None:
    """In process (the exits above show how a service reports them): a key set that is not one, a signing key
    file that is absent, the console without any key."""
    from services.console.config import ConfigError, ConsoleConfig
    from services.leakdetect.bootstrap import query_verifier
    from services.leakdetect.config import LeakdetectConfig
    from services.tokens import KeyFileError
    from services.workorders.bootstrap import token_verifier
    from services.workorders.config import WorkOrdersConfig

    garbage = tmp_path / "jwks.json"
    garbage.write_text("not json")
    with pytest.raises(KeyFileError, match="not JSON"):
        token_verifier(WorkOrdersConfig(jwt_keys_file=str(garbage)), dev=False)
    with pytest.raises(KeyFileError, match="not JSON"):
        query_verifier(LeakdetectConfig(jwt_keys_file=str(garbage)))
    with pytest.raises(ConfigError, match="PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE must be set"):
        ConsoleConfig.from_env({"PIPEWARDEN_CONSOLE_SESSION_SECRET": "s" * 40, "PIPEWARDEN_CONSOLE_USERS_FILE": "u"})
    with pytest.raises(ValueError, match="PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE is not set"):
        query_verifier(LeakdetectConfig())
    # leakdetect --dev: the throwaway keys of var/dev/tokens (as workorders --dev); its tokens verify.
    from services.tokens import DEV_KEYS_DIR, TokenIssuer, dev_keys, load_signing_key

    signing, _ = dev_keys(ROOT / DEV_KEYS_DIR)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        dev = query_verifier(LeakdetectConfig(), dev=True)
    finally:
        os.chdir(cwd)
    assert dev.verify(TokenIssuer(load_signing_key(signing)).issue("dev", "crew", ["*"])).role == "crew"


@contextmanager
def _process(name: str, args: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (logs / f"{name}.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.mark.integration
def test_secrets_never_reach_argv_or_logs(tmp_path: Path, kafka_bootstrap: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    ensure_topics(kafka_bootstrap, [READINGS])
    signing_key, key_set = write_keys(tmp_path)
    hashes = tmp_path / "gateway-token-hashes"
    gateway_token = add_token(hashes, "gw-ds-01")
    session_secret = "session-secret-" + os.urandom(16).hex()
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(yaml.safe_dump({"console_session_secret": session_secret}))
    secrets_file.chmod(0o600)
    users = write_users_file(tmp_path / "users.yaml")
    telemetry, workorders, console = (f"127.0.0.1:{free_port()}" for _ in range(3))
    caller = issue("dispatcher", ["Dongsheng"])
    secrets = {
        "gateway token": gateway_token, "gateway token's secret": gateway_token.split(".")[2],
        "session secret": session_secret, "console password": password_of("dispatcher-ds"),
        "caller token": caller, "caller token's signature": caller.rsplit(".", 1)[1],
        "signing key": "".join(signing_key.read_text().splitlines()[1:-1]),
    }
    with ExitStack() as stack:
        processes = {
            "telemetry": stack.enter_context(_process("telemetry", ["-m", "services.telemetry"], _env(
                PIPEWARDEN_TELEMETRY_LISTEN=telemetry, PIPEWARDEN_KAFKA_BOOTSTRAP=kafka_bootstrap,
                PIPEWARDEN_TELEMETRY_METRICS_PORT="-1", PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE=str(hashes),
                PIPEWARDEN_TELEMETRY_READINGS_TOPIC=READINGS.name), logs)),
            "workorders": stack.enter_context(_process("workorders", ["-m", "services.workorders", "serve"], _env(
                PIPEWARDEN_WORKORDERS_DB_URL=f"sqlite:///{tmp_path}/w.db",
                PIPEWARDEN_WORKORDERS_GRPC_ADDRESS=workorders,
                PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE=str(key_set), PIPEWARDEN_WORKORDERS_CONSUME_ALARMS="0",
                PIPEWARDEN_WORKORDERS_CONSUME_SENSOR_HEALTH="0", PIPEWARDEN_WORKORDERS_RELAY_OUTBOX="0"), logs)),
            # As the deployment starts it: the session secret reaches only the console's environment.
            "console": stack.enter_context(_process("console", [
                "-m", "deploy.local.with_secrets", str(secrets_file),
                "PIPEWARDEN_CONSOLE_SESSION_SECRET=console_session_secret", "--",
                sys.executable, "-m", "services.console", "serve"], _env(
                PIPEWARDEN_CONSOLE_ADDRESS=console, PIPEWARDEN_CONSOLE_WORKORDERS_ADDRESS=workorders,
                PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE=str(signing_key), PIPEWARDEN_CONSOLE_USERS_FILE=str(users),
                PIPEWARDEN_CONSOLE_SECURE_COOKIES="0"), logs)),
        }
        for name, address in (("telemetry", telemetry), ("workorders", workorders), ("console", console)):
            host, port = address.rsplit(":", 1)
            wait_for_port(host, int(port), processes[name], name, timeout_s=120)

        # Good and bad credentials on every service.
        reading = reading_pb2.Reading(tag_id="DS-M01-PT-UP", source_time_unix_us=time.time_ns() // 1000,
                                      value=400.0, quality=reading_pb2.QUALITY_GOOD)
        request = telemetry_ingest_service_pb2.PublishBatchRequest(
            batch=reading_pb2.ReadingBatch(gateway_id="gw-ds-01", batch_sequence=1, readings=[reading]))
        with grpc.insecure_channel(telemetry) as channel:
            stub = tgrpc.TelemetryIngestServiceStub(channel)
            assert stub.PublishBatch(request, metadata=[("authorization", f"Bearer {gateway_token}")],
                                     timeout=30).ack.accepted_count == 1
            with pytest.raises(grpc.RpcError):
                stub.PublishBatch(request, metadata=[("authorization", f"Bearer {gateway_token}x")], timeout=30)
        with grpc.insecure_channel(workorders) as channel:
            wo = wgrpc.WorkOrdersServiceStub(channel)
            wo.ListWorkOrders(wpb.ListWorkOrdersRequest(), metadata=[("authorization", f"Bearer {caller}")], timeout=30)
            with pytest.raises(grpc.RpcError):
                wo.ListWorkOrders(wpb.ListWorkOrdersRequest(),
                                  metadata=[("authorization", f"Bearer {foreign_token()}")], timeout=30)
        with httpx.Client(base_url=f"http://{console}", timeout=30) as web:
            # Ready when its Watch feed is connected: started beside workorders, it may have tried before
            # workorders listened and be waiting to reconnect.
            deadline = time.monotonic() + 60
            while web.get("/healthz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            for password in (password_of("dispatcher-ds"), "wrong " + password_of("dispatcher-ds")):
                found = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
                assert found
                web.post("/login", data={"csrf_token": found.group(1), "username": "dispatcher-ds",
                                         "password": password})
            assert web.get("/queue").status_code == 200  # signed in: the console signed this user a token

        for name, process in processes.items():
            argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for what, secret in secrets.items():
                assert secret not in argv, f"{what} on {name}'s command line"
    assert SIGNING_KEY.kid  # the key the console signed with
    for log in logs.iterdir():
        text = log.read_text(errors="replace")
        assert text.strip(), f"{log.name} is empty: nothing was checked"
        for what, secret in secrets.items():
            assert secret not in text, f"{what} in {log.name}"


def test_dev_mode_runs_on_throwaway_keys_that_the_console_and_the_tokens_cli_sign_with(tmp_path: Path) -> None:
    """``workorders serve --dev``: no key set configured, so throwaway keys in var/dev/tokens (said in the log); a
    token signed with that key is accepted, one from another key is not; ``console serve --dev`` signs its users'
    tokens with it (a user signs in and sees the queue)."""
    from services.tokens import DEV_KEYS_DIR, TokenIssuer, dev_keys, load_signing_key

    address = f"127.0.0.1:{free_port()}"
    with _process("workorders-dev", ["-m", "services.workorders", "serve", "--dev"], _env(
            PIPEWARDEN_WORKORDERS_DB_URL=f"sqlite:///{tmp_path}/w.db", PIPEWARDEN_WORKORDERS_GRPC_ADDRESS=address,
            PIPEWARDEN_WORKORDERS_CONSUME_ALARMS="0", PIPEWARDEN_WORKORDERS_CONSUME_SENSOR_HEALTH="0",
            PIPEWARDEN_WORKORDERS_RELAY_OUTBOX="0"), tmp_path) as process:
        host, port = address.rsplit(":", 1)
        wait_for_port(host, int(port), process, "workorders --dev", timeout_s=120)
        signing, _ = dev_keys(ROOT / DEV_KEYS_DIR)
        dev_token = TokenIssuer(load_signing_key(signing)).issue("dev", "dispatcher", ["*"])
        with grpc.insecure_channel(address) as channel:
            wo = wgrpc.WorkOrdersServiceStub(channel)
            wo.ListWorkOrders(wpb.ListWorkOrdersRequest(), metadata=[("authorization", f"Bearer {dev_token}")],
                              timeout=30)
            with pytest.raises(grpc.RpcError) as refused:
                wo.ListWorkOrders(wpb.ListWorkOrdersRequest(), metadata=[("authorization", f"Bearer {caller()}")],
                                  timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        console = f"127.0.0.1:{free_port()}"
        with _process("console-dev", ["-m", "services.console", "serve", "--dev"], _env(
                PIPEWARDEN_CONSOLE_ADDRESS=console, PIPEWARDEN_CONSOLE_WORKORDERS_ADDRESS=address,
                PIPEWARDEN_CONSOLE_USERS_FILE=str(write_users_file(tmp_path / "users.yaml")),
                PIPEWARDEN_CONSOLE_SECURE_COOKIES="0"), tmp_path) as web_process:
            host, port = console.rsplit(":", 1)
            wait_for_port(host, int(port), web_process, "console --dev", timeout_s=120)
            with httpx.Client(base_url=f"http://{console}", timeout=30) as web:
                found = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
                assert found
                web.post("/login", data={"csrf_token": found.group(1), "username": "dispatcher-ds",
                                         "password": password_of("dispatcher-ds")})
                assert web.get("/queue").status_code == 200
    assert "dev mode" in (tmp_path / "workorders-dev.log").read_text()
    assert "dev mode" in (tmp_path / "console-dev.log").read_text()


def caller() -> str:
    """A token of the tests' key, which a dev server does not hold."""
    return issue("dispatcher", ["*"])
