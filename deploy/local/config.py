"""The deployment file (``deploy/local/pipewarden.yaml``): parsed, checked, and expanded into programs.

A bad file is refused with the file, the key and the problem. Relative paths are relative to the repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO / "deploy" / "local" / "pipewarden.yaml"


class DeploymentError(ValueError):
    """The deployment file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Program:
    """One supervised process."""

    name: str
    priority: int
    # (role, port): every port this process listens on, for the free-port check and the probes.
    ports: tuple[tuple[str, int], ...]
    kind: str  # kafka | postgres | telemetry | leakdetect | workorders | console
    index: int = 0
    # CPU niceness (0-19) the process starts with: the deployment file's `nice` of its section.
    nice: int = 0

    @property
    def infrastructure(self) -> bool:
        return self.kind in ("kafka", "postgres")


@dataclass(frozen=True)
class Deployment:
    file: Path
    data_dir: Path
    secrets_file: Path
    network_file: Path | None
    log_level: str
    tls: bool
    supervisor_http_port: int | None
    kafka_port: int
    kafka_controller_port: int
    kafka_heap: str
    postgres_port: int
    postgres_database: str
    postgres_options: str
    telemetry_port: int
    telemetry_workers: int
    telemetry_metrics_port: int
    leakdetect_workers: int
    leakdetect_grpc_port: int
    leakdetect_metrics_port: int
    workorders_grpc_port: int
    workorders_metrics_port: int
    console_port: int
    console_metrics_port: int
    console_users_file: Path | None
    start_seconds: int
    start_retries: int
    start_timeout_s: float
    # CPU niceness of each kind of process (kafka, postgres, telemetry, leakdetect, workorders, console): 0-19.
    nice: dict[str, int] = field(default_factory=dict)

    # --- derived paths -------------------------------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        """With ``tls: true``: the local CA, the servers' certificate, Kafka's SCRAM password (keys 0600)."""
        return self.data_dir / "tls"

    @property
    def tls_ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def tls_server_cert_file(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def tls_server_key_file(self) -> Path:
        return self.tls_dir / "server-key.pem"

    @property
    def kafka_password_file(self) -> Path:
        return self.tls_dir / "kafka-password"

    @property
    def tls_gateway_cert_dir(self) -> Path:
        """With ``tls: true``: each gateway's client certificate ``<gateway id>.pem`` / ``-key.pem`` (CN and SAN =
        the gateway id); telemetry requires one (mutual TLS) and checks it names the gateway of the readings."""
        return self.tls_dir / "gateways"

    def tls_gateway_cert(self, gateway_id: str) -> tuple[Path, Path]:
        return self.tls_gateway_cert_dir / f"{gateway_id}.pem", self.tls_gateway_cert_dir / f"{gateway_id}-key.pem"

    @property
    def tls_ops_cert(self) -> tuple[Path, Path]:
        """The operators' client certificate (``make status``'s probes of telemetry, which asks every client for
        one); it names no gateway, so telemetry refuses it any readings."""
        return self.tls_dir / "ops-client.pem", self.tls_dir / "ops-client-key.pem"

    KAFKA_USER: ClassVar[str] = "pipewarden"

    def kafka_client_env(self) -> dict[str, str]:
        """The PIPEWARDEN_KAFKA_* security settings of every Kafka client of the deployment (none: PLAINTEXT)."""
        if not self.tls:
            return {}
        return {
            "PIPEWARDEN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "PIPEWARDEN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "PIPEWARDEN_KAFKA_SASL_USERNAME": self.KAFKA_USER,
            "PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE": str(self.kafka_password_file),
            "PIPEWARDEN_KAFKA_SSL_CAFILE": str(self.tls_ca_file),
        }

    @property
    def supervisor_dir(self) -> Path:
        return self.data_dir / "supervisor"

    @property
    def socket_path(self) -> Path:
        return self.supervisor_dir / "supervisor.sock"

    @property
    def pid_file(self) -> Path:
        return self.supervisor_dir / "supervisord.pid"

    @property
    def supervisord_conf(self) -> Path:
        return self.supervisor_dir / "supervisord.conf"

    @property
    def gateway_tokens_file(self) -> Path:
        """Where earlier versions rendered the gateways' plain tokens (removed on ``up``)."""
        return self.supervisor_dir / "gateway-tokens"

    @property
    def gateway_token_hashes_file(self) -> Path:
        """The gateways' tokens as scrypt hashes (telemetry re-reads it on change; ``gateway-token`` edits it)."""
        return self.data_dir / "gateway-token-hashes"

    @property
    def signing_key_file(self) -> Path:
        """The Ed25519 key signing callers' tokens (the console, ``token``), 0600."""
        return self.data_dir / "tokens" / "signing-key.pem"

    @property
    def key_set_file(self) -> Path:
        """The public keys workorders and leakdetect's query API verify tokens with (JWKS)."""
        return self.data_dir / "tokens" / "jwks.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def console_users_path(self) -> Path:
        """The console's users file: the configured one, else one generated on the first ``up``."""
        return self.console_users_file or self.data_dir / "console-users.yaml"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def postgres_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.postgres_port}/{self.postgres_database}"

    def programs(self) -> list[Program]:
        return [replace(p, nice=self.nice.get(p.kind, 0)) for p in self._programs()]

    def _programs(self) -> list[Program]:
        progs = [
            Program("kafka", 10, (("kafka", self.kafka_port), ("kafka controller", self.kafka_controller_port)),
                    "kafka"),
            Program("postgres", 10, (("postgres", self.postgres_port),), "postgres"),
        ]
        for i in range(self.telemetry_workers):
            ports: tuple[tuple[str, int], ...] = (("telemetry metrics", self.telemetry_metrics_port + i),)
            if i == 0:  # the shared gRPC port is listed (and checked) once
                ports = (("telemetry gRPC", self.telemetry_port), *ports)
            progs.append(Program(f"telemetry-{i}", 100, ports, "telemetry", i))
        for i in range(self.leakdetect_workers):
            progs.append(
                Program(
                    f"leakdetect-{i}",
                    100,
                    (("leakdetect query gRPC", self.leakdetect_grpc_port + i),
                     ("leakdetect metrics", self.leakdetect_metrics_port + i)),
                    "leakdetect",
                    i,
                )
            )
        progs.append(
            Program(
                "workorders",
                100,
                (("workorders gRPC", self.workorders_grpc_port), ("workorders metrics", self.workorders_metrics_port)),
                "workorders",
            )
        )
        progs.append(
            Program("console", 110,
                    (("console http", self.console_port), ("console metrics", self.console_metrics_port)), "console")
        )
        return progs

    def ports(self) -> list[tuple[str, int]]:
        """Every port of the deployment, with what it is for (supervisord's HTTP port included)."""
        out = [(f"{role}, {p.name}" if p.kind in ("telemetry", "leakdetect") else role, port)
               for p in self.programs() for role, port in p.ports]
        if self.supervisor_http_port is not None:
            out.append(("supervisord http", self.supervisor_http_port))
        return out


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO / p)


def load(file: Path | str | None = None) -> Deployment:
    path = Path(file) if file else DEFAULT_FILE
    path = path if path.is_absolute() else (Path.cwd() / path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DeploymentError(f"{path}: cannot be read: {error}") from None
    except yaml.YAMLError as error:
        raise DeploymentError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise DeploymentError(f"{path}: expected a mapping at the top level")
    top = _Section(path, "", raw)
    sup = top.section("supervisor")
    kafka = top.section("kafka")
    pg = top.section("postgres")
    tel = top.section("telemetry")
    leak = top.section("leakdetect")
    wo = top.section("workorders")
    console = top.section("console")
    restart = top.section("restart")
    data_dir = _resolve(top.text("data_dir", "var/local"))
    secrets = top.optional_text("secrets_file")
    network = top.optional_text("network_file")
    http_port = sup.optional_port("http_port", 9001)
    deployment = Deployment(
        file=path,
        data_dir=data_dir,
        secrets_file=_resolve(secrets) if secrets else data_dir / "secrets.yaml",
        network_file=_resolve(network) if network else None,
        log_level=top.text("log_level", "INFO"),
        tls=top.boolean("tls", False),
        supervisor_http_port=http_port,
        kafka_port=kafka.port("port", 9092),
        kafka_controller_port=kafka.port("controller_port", 9093),
        kafka_heap=kafka.text("heap", "1G"),
        postgres_port=pg.port("port", 5433),
        postgres_database=pg.text("database", "pipewarden"),
        postgres_options=pg.text("options", "", allow_empty=True),
        telemetry_port=tel.port("port", 50051),
        telemetry_workers=tel.integer("workers", 2, 1, 64),
        telemetry_metrics_port=tel.port("metrics_port", 9464),
        leakdetect_workers=leak.integer("workers", 2, 1, 12),
        leakdetect_grpc_port=leak.port("grpc_port", 50071),
        leakdetect_metrics_port=leak.port("metrics_port", 9471),
        workorders_grpc_port=wo.port("grpc_port", 50053),
        workorders_metrics_port=wo.port("metrics_port", 9480),
        console_port=console.port("port", 8090),
        console_metrics_port=console.port("metrics_port", 9481),
        console_users_file=_resolve(users) if (users := console.optional_text("users_file")) else None,
        start_seconds=restart.integer("start_seconds", 5, 0, 600),
        start_retries=restart.integer("start_retries", 10, 0, 1000),
        start_timeout_s=float(top.integer("start_timeout_s", 300, 10, 3600)),
        # Defaults: see pipewarden.yaml (the ingest path first; analytics with a lag budget behind it).
        nice={"kafka": kafka.integer("nice", 0, 0, 19), "postgres": pg.integer("nice", 5, 0, 19),
              "telemetry": tel.integer("nice", 0, 0, 19), "leakdetect": leak.integer("nice", 10, 0, 19),
              "workorders": wo.integer("nice", 5, 0, 19), "console": console.integer("nice", 10, 0, 19)},
    )
    for section in (top, sup, kafka, pg, tel, leak, wo, console, restart):
        section.refuse_unknown()
    if not deployment.postgres_database.replace("_", "").isalnum():
        raise DeploymentError(
            f"{path}: postgres.database must be letters, digits and _, got {deployment.postgres_database!r}"
        )
    seen: dict[int, str] = {}
    for role, port in deployment.ports():
        if not 0 < port < 65536:
            raise DeploymentError(f"{path}: {role} port {port} is out of range")
        if port in seen:
            raise DeploymentError(f"{path}: port {port} is configured twice ({seen[port]} and {role})")
        seen[port] = role
    return deployment


class _Section:
    KNOWN: ClassVar[dict[str, set[str]]] = {
        "": {"data_dir", "secrets_file", "network_file", "log_level", "tls", "supervisor", "kafka", "postgres",
             "telemetry", "leakdetect", "workorders", "console", "restart", "start_timeout_s"},
        "supervisor": {"http_port"},
        "kafka": {"port", "controller_port", "heap", "nice"},
        "postgres": {"port", "database", "options", "nice"},
        "telemetry": {"port", "workers", "metrics_port", "nice"},
        "leakdetect": {"workers", "grpc_port", "metrics_port", "nice"},
        "workorders": {"grpc_port", "metrics_port", "nice"},
        "console": {"port", "metrics_port", "users_file", "nice"},
        "restart": {"start_seconds", "start_retries"},
    }

    def __init__(self, file: Path, name: str, values: Any) -> None:
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise DeploymentError(f"{file}: {name} must be a mapping")
        self.file, self.name, self.values = file, name, values

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def section(self, key: str) -> _Section:
        return _Section(self.file, key, self.values.get(key))

    def refuse_unknown(self) -> None:
        unknown = sorted(set(self.values) - self.KNOWN[self.name])
        if unknown:
            raise DeploymentError(f"{self.file}: unknown setting {self._key(unknown[0])}")

    def text(self, key: str, default: str, *, allow_empty: bool = False) -> str:
        value = self.values.get(key, default)
        if value is None:
            value = default
        if not isinstance(value, str | int) or (not allow_empty and not str(value).strip()):
            raise DeploymentError(f"{self.file}: {self._key(key)} must be a non-empty string, got {value!r}")
        return str(value).strip()

    def optional_text(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise DeploymentError(f"{self.file}: {self._key(key)} must be a path or null, got {value!r}")
        return value

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise DeploymentError(
                f"{self.file}: {self._key(key)} must be an integer from {minimum} to {maximum}, got {value!r}"
            )
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise DeploymentError(f"{self.file}: {self._key(key)} must be true or false, got {value!r}")
        return value

    def port(self, key: str, default: int) -> int:
        return self.integer(key, default, 1, 65535)

    def optional_port(self, key: str, default: int) -> int | None:
        if key in self.values and self.values[key] is None:
            return None
        return self.port(key, default)
