"""``python -m deploy.local {up,status,down,logs,token}``: Pipewarden on one host under supervisord.

``up``     generates the secrets (first time), refuses ports already taken (naming the holder), renders
           ``<data_dir>/supervisor/supervisord.conf``, starts supervisord (daemon, unix socket in the data
           dir) which runs Kafka and PostgreSQL, waits until Kafka answers (topics created) and PostgreSQL
           answers (database created), starts telemetry, leakdetect and workorders, and waits until every
           process is healthy. On a running deployment it only completes what is missing and shows status.
``status`` one line per process: supervisord state, pid, uptime, and a real probe (gRPC health Check,
           Kafka metadata, PostgreSQL ``SELECT 1``, /metrics). Exit 0 all healthy, 1 something is not,
           3 the deployment is not running.
``down``   stops the services, then Kafka and PostgreSQL (clean shutdowns: committed data stays), then
           supervisord.
``logs``   ``tail -F`` of the log files (``--service NAME`` for one program or a family, e.g. telemetry).
``token``  prints a caller token (workorders, leakdetect's query API) signed with the deployment's current key.
``rotate-keys``  a new signing key beside the old one (both verify; ``--keep 1`` later retires the old one).
``rotate-kafka-password``  (``tls: true``) a new Kafka SCRAM password: on the broker, then in its file, then the
           Kafka clients restarted one by one (deploy/local/kafka_password.py).
``gateway-token``  ``--gateway GW`` adds a token for a gateway and prints it once (only its hash is kept);
           ``--revoke GW|TOKEN_ID`` removes a gateway's tokens (telemetry refuses them within a second, no
           restart).

Exit code 2: bad deployment file or arguments, or a port is taken.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.local.config import REPO, Deployment, DeploymentError, Program, load
from deploy.local.ports import describe_holder, port_free
from services.secretfiles import write_private_file
from services.telemetry.adapters.auth import (
    TokenFileError,
    add_token,
    hash_token,
    new_token,
    parse_token_hashes,
    revoke_tokens,
    write_token_hashes,
)
from services.telemetry.adapters.auth import token_id_of as _token_id
from services.tokens import rotate

PYTHON = sys.executable
# coreutils' nice(1), for the programs whose deployment file section sets a niceness.
NICE = shutil.which("nice") or "/usr/bin/nice"
SERVICE_PRIORITY = 100


# --- secrets -------------------------------------------------------------------------------------------
def _gateway_ids(deployment: Deployment) -> list[str]:
    from services.network import load_demo_network, load_network

    network = load_network(deployment.network_file) if deployment.network_file else load_demo_network()
    return sorted(network.gateways)


def ensure_secrets(deployment: Deployment) -> dict[str, Any]:
    """Load the secrets file, generating what is missing (first ``up``, or a new gateway)."""
    path = deployment.secrets_file
    data: dict[str, Any] = {}
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            print(f"warning: {path} had mode {mode:04o}; set to 0600", file=sys.stderr)
            path.chmod(0o600)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    changed = False
    tokens = data.setdefault("gateway_tokens", {})
    hashes = deployment.gateway_token_hashes_file
    hashed = parse_token_hashes(hashes) if hashes.exists() else {}
    stale = [g for g, t in tokens.items() if not _token_id(t)]
    if stale:  # plain tokens of an earlier version: telemetry keeps only hashes, which need a token id
        print(f"re-issuing the gateway tokens of {', '.join(sorted(stale))} in the hashed format", file=sys.stderr)
    hashes_changed = not hashes.exists()
    for gateway in _gateway_ids(deployment):
        if not _token_id(tokens.get(gateway) or ""):
            token, entry = new_token(gateway)
            tokens[gateway], hashed[entry.token_id] = token, entry
            changed = hashes_changed = True
    # Every token of the secrets file has its hash (a file from before hashing, or a hash file deleted by hand).
    for gateway, token in tokens.items():
        if _token_id(token) not in hashed:
            hashed[_token_id(token)] = hash_token(gateway, token)
            hashes_changed = True
    if hashes_changed:
        write_token_hashes(hashes, hashed.values())
    if data.pop("workorders_jwt_secret", None) is not None:  # the HS256 key of earlier versions: unused now
        changed = True
    if not deployment.signing_key_file.exists() or not deployment.key_set_file.exists():
        signing = rotate(deployment.signing_key_file, deployment.key_set_file, keep=2)
        print(f"token signing key {signing.kid} written to {deployment.signing_key_file} (0600)", file=sys.stderr)
    for key in ("supervisor_http_password", "console_session_secret", "console_supervisor_password"):
        if not data.get(key):
            data[key] = secrets.token_urlsafe(48)
            changed = True
    if changed or not path.exists():
        header = (
            "# Pipewarden deployment secrets, generated by `make up` (python -m deploy.local). Mode 0600.\n"
            "# gateway_tokens: bearer token of each SCADA gateway of the network (fieldsim, load tests; telemetry\n"
            "# holds only their hashes, in gateway-token-hashes); callers' tokens are signed with\n"
            "# tokens/signing-key.pem (`make token`); supervisor_http_password: supervisord's HTTP port;\n"
            "# console_session_secret: signs the console's session cookies; console_supervisor_password: the\n"
            "# console's first user `supervisor` (when the deployment file names no users file).\n"
        )
        write_private_file(path, header + yaml.safe_dump(data, sort_keys=True))
        print(f"secrets written to {path} (0600)", file=sys.stderr)
    return data


def ensure_tls(deployment: Deployment) -> None:
    """With ``tls: true``: the local CA, one server certificate (localhost, 127.0.0.1) for every gRPC server and
    the broker, a client certificate per gateway of the network (CN and SAN = its id: telemetry's mutual TLS)
    and one for the operators' probes, and Kafka's SCRAM password, made on first use under ``<data_dir>/tls``
    (keys 0600)."""
    if not deployment.tls:
        return
    from deploy.local.pki import ensure_ca, issue, issue_client

    d = deployment
    made = not d.tls_ca_file.exists()
    ca = ensure_ca(d.tls_dir, name=f"Pipewarden local CA ({d.data_dir})")
    issue(ca, d.tls_dir, "server", common_name="localhost")
    for gateway in _gateway_ids(d):  # a gateway added to the network gets its certificate on the next `up`
        issue_client(ca, d.tls_gateway_cert_dir, gateway)
    issue_client(ca, d.tls_dir, d.tls_ops_cert[0].stem)
    if not d.kafka_password_file.exists():
        write_private_file(d.kafka_password_file, secrets.token_hex(24) + "\n")
    if made:
        print(f"local CA, server, gateway and operator certificates written to {d.tls_dir} (keys 0600); clients "
              f"trust {d.tls_ca_file}",
              file=sys.stderr)


def _server_tls(d: Deployment, prefix: str) -> dict[str, str]:
    if not d.tls:
        return {}
    return {f"{prefix}TLS_CERT_FILE": str(d.tls_server_cert_file), f"{prefix}TLS_KEY_FILE": str(d.tls_server_key_file)}


# --- supervisord configuration -------------------------------------------------------------------------
def _env(values: dict[str, str]) -> str:
    # supervisord: KEY="value" pairs, commas between; '%' must be doubled (its own interpolation).
    return ",".join(f'{k}="{v.replace("%", "%%")}"' for k, v in values.items())


def _program_command(deployment: Deployment, program: Program) -> tuple[str, dict[str, str]]:
    d = deployment
    if program.kind == "kafka":
        return str(REPO / "deploy/kafka/kafka.sh") + " run", {
            "PIPEWARDEN_KAFKA_PORT": str(d.kafka_port),
            "PIPEWARDEN_KAFKA_CONTROLLER_PORT": str(d.kafka_controller_port),
            "PIPEWARDEN_KAFKA_DATA_DIR": str(d.data_dir / "kafka"),
            "PIPEWARDEN_KAFKA_HEAP": d.kafka_heap,
            **({"PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE": str(d.tls_server_cert_file),
                "PIPEWARDEN_KAFKA_SSL_SERVER_KEYFILE": str(d.tls_server_key_file)} if d.tls else {}),
        }
    if program.kind == "postgres":
        return str(REPO / "deploy/postgres/postgres.sh") + " run", {
            "PIPEWARDEN_PG_DATA_DIR": str(d.data_dir / "postgres"),
            "PIPEWARDEN_PG_PORT": str(d.postgres_port),
            "PIPEWARDEN_PG_DATABASE": d.postgres_database,
            "PIPEWARDEN_PG_OPTIONS": d.postgres_options,
        }
    if program.kind == "telemetry":
        return f"{PYTHON} -m services.telemetry", {
            "PIPEWARDEN_TELEMETRY_LISTEN": f"127.0.0.1:{d.telemetry_port}",
            # Set: this process is one worker (no in-process supervisor); metrics on METRICS_PORT + index.
            "PIPEWARDEN_TELEMETRY_WORKER_INDEX": str(program.index),
            # The worker count turns on SO_REUSEPORT, so that the workers can share the gRPC port.
            "PIPEWARDEN_TELEMETRY_WORKERS": str(d.telemetry_workers),
            "PIPEWARDEN_TELEMETRY_METRICS_PORT": str(d.telemetry_metrics_port),
            "PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE": str(d.gateway_token_hashes_file),
            **_server_tls(d, "PIPEWARDEN_TELEMETRY_"),
            # Mutual TLS: every gateway presents its own certificate, which must name the gateway of its readings.
            **({"PIPEWARDEN_TELEMETRY_TLS_CLIENT_CA_FILE": str(d.tls_ca_file)} if d.tls else {}),
        }
    if program.kind == "leakdetect":
        return f"{PYTHON} -m services.leakdetect", {
            "PIPEWARDEN_LEAKDETECT_GRPC_PORT": str(d.leakdetect_grpc_port + program.index),
            "PIPEWARDEN_LEAKDETECT_METRICS_PORT": str(d.leakdetect_metrics_port + program.index),
            "PIPEWARDEN_LEAKDETECT_DATA_DIR": str(d.data_dir / "leakdetect" / f"worker-{program.index}"),
            "PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE": str(d.key_set_file),
            **_server_tls(d, "PIPEWARDEN_LEAKDETECT_"),
        }
    if program.kind == "console":
        wrapper = f"{PYTHON} -m deploy.local.with_secrets {shlex.quote(str(d.secrets_file))} "
        wrapper += "PIPEWARDEN_CONSOLE_SESSION_SECRET=console_session_secret --"
        leak = ",".join(f"127.0.0.1:{d.leakdetect_grpc_port + i}" for i in range(d.leakdetect_workers))
        return f"{wrapper} {PYTHON} -m services.console serve", {
            "PIPEWARDEN_CONSOLE_ADDRESS": f"127.0.0.1:{d.console_port}",
            "PIPEWARDEN_CONSOLE_WORKORDERS_ADDRESS": f"127.0.0.1:{d.workorders_grpc_port}",
            "PIPEWARDEN_CONSOLE_LEAKDETECT_ADDRESSES": leak,
            "PIPEWARDEN_CONSOLE_USERS_FILE": str(d.console_users_path),
            "PIPEWARDEN_CONSOLE_METRICS_PORT": str(d.console_metrics_port),
            # A path, not a key: the console reads the key from the 0600 file.
            "PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE": str(d.signing_key_file),
            **({"PIPEWARDEN_CONSOLE_GRPC_TLS_CA_FILE": str(d.tls_ca_file)} if d.tls else {}),
        }
    assert program.kind == "workorders"
    return f"{PYTHON} -m services.workorders serve", {
        "PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE": str(d.key_set_file),
        "PIPEWARDEN_WORKORDERS_DB_URL": d.postgres_url,
        "PIPEWARDEN_WORKORDERS_GRPC_ADDRESS": f"127.0.0.1:{d.workorders_grpc_port}",
        "PIPEWARDEN_WORKORDERS_METRICS_PORT": str(d.workorders_metrics_port),
        **_server_tls(d, "PIPEWARDEN_WORKORDERS_"),
    }


def ensure_console_users(deployment: Deployment, secret_values: dict[str, Any]) -> None:
    """The generated users file (first ``up``, when the deployment file names none): one supervisor of all
    districts, password from the secrets file. A users file the deployment names is used as it is."""
    path = deployment.console_users_path
    if deployment.console_users_file is not None or path.exists():
        return
    from services.console.adapters.users import hash_password

    users = {"users": [{"username": "supervisor", "role": "supervisor", "districts": ["*"],
                        "password_argon2": hash_password(secret_values["console_supervisor_password"]),
                        "name": "Supervisor"}]}
    header = ("# Console users (services/console/adapters/users.py), generated by `make up`; add users with\n"
              "# `python -m services.console hash-password`. The first user's password is in the secrets file.\n")
    write_private_file(path, header + yaml.safe_dump(users, sort_keys=False))
    print(f"console users written to {path} (0600)", file=sys.stderr)


def render_supervisord_conf(deployment: Deployment, secret_values: dict[str, Any]) -> str:
    d = deployment
    common = {"PIPEWARDEN_KAFKA_BOOTSTRAP": d.kafka_bootstrap, "PIPEWARDEN_LOG_LEVEL": d.log_level,
              "PYTHONUNBUFFERED": "1", **d.kafka_client_env()}
    if d.network_file is not None:
        common["PIPEWARDEN_NETWORK_FILE"] = str(d.network_file)
    lines = [
        f"; Rendered by deploy/local from {d.file} on every `make up`: edit that file, not this one.",
        "[unix_http_server]",
        f"file={d.socket_path}",
        "chmod=0700",
        "",
    ]
    if d.supervisor_http_port is not None:
        digest = hashlib.sha1(secret_values["supervisor_http_password"].encode()).hexdigest()
        lines += ["[inet_http_server]", f"port=127.0.0.1:{d.supervisor_http_port}", "username=pipewarden",
                  f"password={{SHA}}{digest}", ""]
    lines += [
        "[supervisord]",
        f"logfile={d.log_dir / 'supervisord.log'}",
        "logfile_maxbytes=10MB",
        f"pidfile={d.pid_file}",
        f"childlogdir={d.log_dir}",
        f"directory={REPO}",
        f"identifier=pipewarden:{d.data_dir}",
        "nodaemon=false",
        f"environment={_env(common)}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{d.socket_path}",
        "",
    ]
    for program in d.programs():
        command, env = _program_command(d, program)
        if program.nice:
            # supervisord has no niceness setting: nice(1) sets it and execs the command (the pid stays the
            # program's). Threads and children inherit it: the JVM's, PostgreSQL's backends.
            command = f"{NICE} -n {program.nice} {command}"
        infra = program.infrastructure
        lines += [
            f"[program:{program.name}]",
            f"command={command}",
            f"directory={REPO}",
            f"priority={program.priority}",
            # Kafka and PostgreSQL start with supervisord; the services once `up` has seen them answer.
            f"autostart={'true' if infra else 'false'}",
            "autorestart=true",
            # The JVM exits 143 after a clean shutdown on SIGTERM.
            f"exitcodes={'0,143' if program.kind == 'kafka' else '0'}",
            f"startsecs={d.start_seconds}",
            f"startretries={d.start_retries}",
            # PostgreSQL: SIGINT is its fast shutdown (SIGTERM would wait for every client to leave).
            f"stopsignal={'INT' if program.kind == 'postgres' else 'TERM'}",
            f"stopwaitsecs={60 if infra else 30}",
            "redirect_stderr=true",
            f"stdout_logfile={d.log_dir / (program.name + '.log')}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=5",
            f"environment={_env(env)}",
            "",
        ]
    return "\n".join(lines)


# --- supervisord client --------------------------------------------------------------------------------
def rpc(deployment: Deployment) -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{deployment.socket_path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisord_running(deployment: Deployment) -> bool:
    if not deployment.socket_path.exists():
        return False
    try:
        return rpc(deployment).supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


def _supervisord_pid(deployment: Deployment) -> int | None:
    try:
        pid = int(deployment.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _http_health(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as reply:
            return None if reply.status == 200 else f"/healthz :{port} HTTP {reply.status}"
    except urllib.error.HTTPError as error:  # 503: the console's Watch of workorders is not connected
        return f"/healthz :{port} HTTP {error.code}"
    except OSError as error:
        return f"/healthz :{port} {type(error).__name__}"


# --- probes --------------------------------------------------------------------------------------------
def _grpc_health_of(port: int, ca_file: Path | None = None, client: tuple[Path, Path] | None = None) -> str | None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.grpctls import ClientTLS
    from services.grpctls import channel as grpc_channel

    cert, key = (str(client[0]), str(client[1])) if client is not None else (None, None)
    tls = ClientTLS(str(ca_file), cert, key) if ca_file is not None else None
    with grpc_channel(f"127.0.0.1:{port}", tls) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=3)
        except grpc.RpcError as error:
            return f"gRPC :{port} {error.code().name}"  # type: ignore[attr-defined]
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"gRPC :{port} {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def _metrics(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:
            return None if reply.status == 200 else f"/metrics :{port} HTTP {reply.status}"
    except OSError as error:
        return f"/metrics :{port} {type(error).__name__}"


def _kafka(port: int, client_env: dict[str, str] | None = None) -> str | None:
    from services.kafkaconn import KafkaSecurity
    from services.topics.admin import TopicAdminError, connect

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        connect(f"127.0.0.1:{port}", timeout_s=3, security=KafkaSecurity.from_env(client_env or {})).close()
    except TopicAdminError:
        return f"Kafka :{port} does not answer metadata requests"
    return None


def _postgres(port: int, database: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=database, connect_timeout=3) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as error:
        return f"PostgreSQL :{port}/{database}: {str(error).strip().splitlines()[0]}"
    return None


def probe(deployment: Deployment, program: Program) -> tuple[bool, str]:
    """(healthy, what was checked or what failed)."""
    d = deployment
    checks: list[tuple[str, Callable[[], str | None]]]
    ca = d.tls_ca_file if d.tls else None
    tls = " (TLS)" if d.tls else ""

    def _grpc_health(port: int) -> str | None:  # over TLS, checked against the deployment's CA, when it has one
        # With the operators' client certificate: telemetry (mutual TLS) accepts no connection without one.
        return _grpc_health_of(port, ca, d.tls_ops_cert if d.tls else None)

    if program.kind == "kafka":
        checks = [(f"Kafka metadata :{d.kafka_port}{' (SASL_SSL)' if d.tls else ''}",
                   lambda: _kafka(d.kafka_port, d.kafka_client_env()))]
    elif program.kind == "postgres":
        checks = [(f"SELECT 1 :{d.postgres_port}", lambda: _postgres(d.postgres_port, d.postgres_database))]
    elif program.kind == "telemetry":
        metrics = d.telemetry_metrics_port + program.index
        # The gRPC port is shared: whichever worker the kernel picks answers. /metrics is this worker's own.
        checks = [(f"gRPC health{tls} :{d.telemetry_port}", lambda: _grpc_health(d.telemetry_port)),
                  (f"/metrics :{metrics}", lambda: _metrics(metrics))]
    elif program.kind == "leakdetect":
        port = d.leakdetect_grpc_port + program.index
        checks = [(f"gRPC health{tls} :{port}", lambda: _grpc_health(port))]
    elif program.kind == "console":
        checks = [(f"/healthz :{d.console_port}", lambda: _http_health(d.console_port)),
                  (f"/metrics :{d.console_metrics_port}", lambda: _metrics(d.console_metrics_port))]
    else:
        checks = [(f"gRPC health{tls} :{d.workorders_grpc_port}", lambda: _grpc_health(d.workorders_grpc_port)),
                  (f"/metrics :{d.workorders_metrics_port}", lambda: _metrics(d.workorders_metrics_port))]
    failures = [f for f in (check() for _, check in checks) if f]
    if failures:
        return False, "; ".join(failures)
    return True, ", ".join(label for label, _ in checks)


@dataclass
class Row:
    name: str
    state: str
    pid: int
    uptime_s: int
    healthy: bool
    detail: str


def collect(deployment: Deployment) -> list[Row]:
    info = {p["name"]: p for p in rpc(deployment).supervisor.getAllProcessInfo()}
    programs = deployment.programs()

    def one(program: Program) -> Row:
        p = info.get(program.name, {})
        state = p.get("statename", "UNKNOWN")
        pid = int(p.get("pid", 0))
        uptime = int(p["now"] - p["start"]) if state == "RUNNING" and p.get("start") else 0
        if state != "RUNNING":
            detail = p.get("spawnerr") or p.get("description", "")
            return Row(program.name, state, pid, uptime, False, detail)
        healthy, detail = probe(deployment, program)
        return Row(program.name, state, pid, uptime, healthy, detail)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, programs))


def _uptime(seconds: int) -> str:
    if not seconds:
        return "-"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def format_table(rows: list[Row]) -> str:
    table = [("PROCESS", "STATE", "PID", "UPTIME", "HEALTH", "CHECKED")]
    table += [(r.name, r.state, str(r.pid or "-"), _uptime(r.uptime_s), "healthy" if r.healthy else "UNHEALTHY",
               r.detail) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
                     for row in table)


# --- commands ------------------------------------------------------------------------------------------
def cmd_status(deployment: Deployment) -> int:
    if not supervisord_running(deployment):
        print(f"not running (data dir {deployment.data_dir})")
        return 3
    rows = collect(deployment)
    print(format_table(rows))
    return 0 if all(r.healthy for r in rows) else 1


def _taken_ports(deployment: Deployment) -> list[str]:
    return [f"port {port} ({role}) is taken by {describe_holder(port)}"
            for role, port in deployment.ports() if not port_free(port)]


def _wait(what: str, check: Callable[[], str | None], deadline: float, interval: float = 1.0) -> None:
    last: str | None = "not checked"
    while time.monotonic() < deadline:
        last = check()
        if last is None:
            return
        time.sleep(interval)
    raise TimeoutError(f"{what}: {last}")


def _ensure_database(deployment: Deployment) -> str | None:
    import psycopg

    try:
        with psycopg.connect(host="127.0.0.1", port=deployment.postgres_port, user="postgres", dbname="postgres",
                             connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (deployment.postgres_database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{deployment.postgres_database}"')
                print(f"created database {deployment.postgres_database}", file=sys.stderr)
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


def _clean_env() -> dict[str, str]:
    # The caller's PIPEWARDEN_* settings (a developer's shell, a test session) must not leak into the
    # deployment: everything the services get comes from the deployment file.
    return {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}


def cmd_up(deployment: Deployment) -> int:
    d = deployment
    running = supervisord_running(d)
    if running:
        print(f"already up (supervisord pid {_supervisord_pid(d)}, data dir {d.data_dir}); completing and checking",
              file=sys.stderr)
    else:
        taken = _taken_ports(d)
        if taken:
            for line in taken:
                print(f"error: {line}", file=sys.stderr)
            print(f"error: refusing to start; free the port(s) or change them in {d.file}", file=sys.stderr)
            return 2
    kafka_dir = d.data_dir / "kafka"
    if d.tls and (kafka_dir / "kraft-logs" / "meta.properties").exists() and not (kafka_dir / "tls").exists():
        print(f"error: tls: true, but Kafka's log dir {kafka_dir} was formatted without TLS and has no SCRAM user; "
              "use a new data_dir (or delete that one after `make down`)", file=sys.stderr)
        return 2
    values = ensure_secrets(d)
    ensure_console_users(d, values)
    ensure_tls(d)
    if not running:
        d.supervisor_dir.mkdir(parents=True, exist_ok=True)
        d.log_dir.mkdir(parents=True, exist_ok=True)
        # The postgres user (when we are root) must reach <data_dir>/postgres.
        d.data_dir.chmod(0o755)
        # Earlier versions rendered the gateways' plain tokens here; telemetry now reads only their hashes.
        d.gateway_tokens_file.unlink(missing_ok=True)
        write_private_file(d.supervisord_conf, render_supervisord_conf(d, values))
        print(f"starting supervisord ({d.supervisord_conf})", file=sys.stderr)
        started = subprocess.run([PYTHON, "-m", "supervisor.supervisord", "-c", str(d.supervisord_conf)],
                                 env=_clean_env(), cwd=REPO, capture_output=True, text=True)
        if started.returncode != 0:
            print(f"error: supervisord did not start: {started.stderr.strip()}", file=sys.stderr)
            return 1
    deadline = time.monotonic() + d.start_timeout_s
    try:
        _wait("supervisord", lambda: None if supervisord_running(d) else "its socket does not answer",
              deadline, 0.2)
        print(f"waiting for Kafka on {d.kafka_bootstrap} and creating topics", file=sys.stderr)
        left = max(5.0, deadline - time.monotonic())
        topics = subprocess.run([PYTHON, "-m", "services.topics.admin", "--bootstrap", d.kafka_bootstrap,
                                 "--wait-s", f"{left:.0f}"], env={**_clean_env(), **d.kafka_client_env()},
                                cwd=REPO, capture_output=True,
                                text=True)
        if topics.returncode != 0:
            raise TimeoutError(f"Kafka / topics: {topics.stderr.strip()} (see {d.log_dir / 'kafka.log'})")
        print(f"waiting for PostgreSQL on 127.0.0.1:{d.postgres_port}", file=sys.stderr)
        _wait(f"PostgreSQL (see {d.log_dir / 'postgres.log'})", lambda: _ensure_database(d), deadline, 0.5)
        server = rpc(d)
        info = {p["name"]: p for p in server.supervisor.getAllProcessInfo()}
        for program in d.programs():
            if info[program.name]["statename"] not in ("RUNNING", "STARTING", "BACKOFF"):
                server.supervisor.startProcess(program.name, False)
        print("services started; waiting until every process is healthy", file=sys.stderr)

        def unhealthy() -> str | None:
            rows = collect(d)
            fatal = [r.name for r in rows if r.state == "FATAL"]
            if fatal:  # supervisord gave up on it: waiting longer changes nothing
                raise TimeoutError(f"{', '.join(fatal)} could not be started (see `make logs SERVICE={fatal[0]}`)")
            bad = [f"{r.name} ({r.state}: {r.detail})" for r in rows if not r.healthy]
            return ", ".join(bad) if bad else None

        _wait("not healthy", unhealthy, deadline, 1.0)
    except TimeoutError as error:
        print(f"error: {error}", file=sys.stderr)
        if supervisord_running(d):
            print(format_table(collect(d)))
        return 1
    print(format_table(collect(d)))
    print(f"up: logs in {d.log_dir}, secrets in {d.secrets_file}", file=sys.stderr)
    print(f"console: {d.console_url} (users in {d.console_users_path}"
          + ("; user `supervisor`, password `console_supervisor_password` in the secrets file)"
             if d.console_users_file is None else ")"), file=sys.stderr)
    return 0


def cmd_down(deployment: Deployment) -> int:
    d = deployment
    if not supervisord_running(d):
        print(f"not running (data dir {d.data_dir})", file=sys.stderr)
        return 0
    pid = _supervisord_pid(d)
    server = rpc(d)
    # Services first (so nothing writes while the infrastructure stops), then Kafka and PostgreSQL.
    for group in (lambda p: not p.infrastructure, lambda p: p.infrastructure):
        names = [p.name for p in d.programs() if group(p)]
        print(f"stopping {', '.join(names)}", file=sys.stderr)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(lambda name: _stop(d, name), names))
    print("stopping supervisord", file=sys.stderr)
    with contextlib.suppress(OSError, xmlrpc.client.Error):
        server.supervisor.shutdown()
    deadline = time.monotonic() + 60
    while pid is not None and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    print("down", file=sys.stderr)
    return 0


def _stop(deployment: Deployment, name: str) -> None:
    try:
        rpc(deployment).supervisor.stopProcess(name, True)
    except xmlrpc.client.Fault as fault:
        if "NOT_RUNNING" not in fault.faultString:
            print(f"warning: stopping {name}: {fault.faultString}", file=sys.stderr)


def cmd_logs(deployment: Deployment, service: str | None, lines: int, follow: bool) -> int:
    logs = sorted(deployment.log_dir.glob("*.log"))
    if service:
        logs = [p for p in logs if p.stem == service or p.stem.rsplit("-", 1)[0] == service]
    if not logs:
        names = sorted({p.stem for p in deployment.log_dir.glob("*.log")})
        print(f"no log files for {service or 'the deployment'} in {deployment.log_dir}"
              + (f" (there are: {', '.join(names)})" if names else ""), file=sys.stderr)
        return 2
    os.execvp("tail", ["tail", "-n", str(lines), *(["-F"] if follow else []), *map(str, logs)])
    return 1  # not reached


def cmd_token(deployment: Deployment, role: str, districts: str, subject: str, ttl_s: float) -> int:
    from services.tokens import KeyFileError, TokenIssuer, load_signing_key

    if not deployment.signing_key_file.exists():
        print(f"error: {deployment.signing_key_file} does not exist yet: run `make up` first", file=sys.stderr)
        return 2
    names = [x.strip() for x in districts.split(",") if x.strip()]
    try:
        print(TokenIssuer(load_signing_key(deployment.signing_key_file)).issue(subject, role, names, ttl_s=ttl_s))
    except (KeyFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_rotate_keys(deployment: Deployment, keep: int) -> int:
    from services.tokens import KeyFileError

    if not 1 <= keep <= 10:
        print("error: --keep must be 1 to 10", file=sys.stderr)
        return 2
    try:
        key = rotate(deployment.signing_key_file, deployment.key_set_file, keep=keep)
    except KeyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"new signing key {key.kid}; the key set {deployment.key_set_file} holds {keep} key(s); the console and "
          "the APIs pick it up within a second", file=sys.stderr)
    return 0


def cmd_gateway_token(deployment: Deployment, gateway: str | None, revoke: str | None) -> int:
    path = deployment.gateway_token_hashes_file
    try:
        if revoke is not None:
            removed = revoke_tokens(path, revoke) if path.exists() else []
            values = yaml.safe_load(deployment.secrets_file.read_text(encoding="utf-8")) if (
                deployment.secrets_file.exists()) else None
            ids = {e.token_id for e in removed}
            if isinstance(values, dict) and isinstance(values.get("gateway_tokens"), dict):
                kept = {g: t for g, t in values["gateway_tokens"].items() if g != revoke and _token_id(t) not in ids}
                if kept != values["gateway_tokens"]:
                    values["gateway_tokens"] = kept
                    # `up` would otherwise give the gateway a new token at once: its hash stays out until then.
                    write_private_file(deployment.secrets_file, yaml.safe_dump(values, sort_keys=True))
            if not removed:
                print(f"error: no token of gateway or id {revoke[:100]!r} in {path}", file=sys.stderr)
                return 1
            for entry in removed:
                print(f"revoked {entry.gateway_id} {entry.token_id}", file=sys.stderr)
            return 0
        assert gateway is not None
        token = add_token(path, gateway)
    except TokenFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"token for {gateway} added to {path}; it is shown only now:", file=sys.stderr)
    print(token)
    return 0


@contextlib.contextmanager
def _no_kafka_noise() -> Iterator[None]:
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.splitlines()[0])
    parser.add_argument("--file", "-f", default=os.environ.get("PIPEWARDEN_DEPLOYMENT") or None,
                        help="deployment file (default deploy/local/pipewarden.yaml; env PIPEWARDEN_DEPLOYMENT)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything (idempotent)")
    sub.add_parser("status", help="state, pid, uptime and health of every process")
    sub.add_parser("down", help="stop everything, keeping the data")
    logs = sub.add_parser("logs", help="tail the log files")
    logs.add_argument("--service", default=None, help="a program (telemetry-0) or family (telemetry)")
    logs.add_argument("--lines", "-n", type=int, default=20)
    logs.add_argument("--no-follow", action="store_true")
    token = sub.add_parser("token", help="print a workorders caller token")
    token.add_argument("--role", required=True, help="dispatcher, crew, supervisor or regulator")
    token.add_argument("--districts", default="", help="comma-separated district names")
    token.add_argument("--subject", default=os.environ.get("USER", "operator") or "operator")
    token.add_argument("--ttl-s", type=float, default=8 * 3600.0)
    keys = sub.add_parser("rotate-keys", help="a new token signing key beside the old one")
    keys.add_argument("--keep", type=int, default=2, help="keys kept in the key set (2: the old one still verifies)")
    sub.add_parser("rotate-kafka-password", help="a new Kafka SCRAM password: on the broker, in its file, clients "
                   "restarted (tls: true)")
    gw = sub.add_parser("gateway-token", help="add (printed once) or revoke a gateway's token")
    which = gw.add_mutually_exclusive_group(required=True)
    which.add_argument("--gateway", help="add a token for this gateway")
    which.add_argument("--revoke", help="revoke every token of this gateway, or the token with this id")
    args = parser.parse_args(argv)
    try:
        deployment = load(args.file)
    except DeploymentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with _no_kafka_noise():
        if args.command == "up":
            return cmd_up(deployment)
        if args.command == "status":
            return cmd_status(deployment)
        if args.command == "down":
            return cmd_down(deployment)
        if args.command == "logs":
            return cmd_logs(deployment, args.service, args.lines, not args.no_follow)
        if args.command == "rotate-keys":
            return cmd_rotate_keys(deployment, args.keep)
        if args.command == "gateway-token":
            return cmd_gateway_token(deployment, args.gateway, args.revoke)
        if args.command == "rotate-kafka-password":
            from deploy.local.kafka_password import cmd_rotate_kafka_password

            return cmd_rotate_kafka_password(deployment)
        return cmd_token(deployment, args.role, args.districts, args.subject, args.ttl_s)
