"""A one-host deployment (deploy/local) on free ports in a temporary data dir, for the tests of tests/deploy:
its file, the `python -m deploy.local` command line, and a handle on the running deployment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.local.config import Deployment
from deploy.local.deployment import rpc
from tests.fixtures.kafka import free_port as fixture_free_port

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class _Ports:
    """Distinct free ports for one deployment file. Each is free when drawn but stays unbound until the deployment
    starts, so a second draw could hand out the same one (it did: "port ... is configured twice"); drawn outside the
    range outgoing connections take theirs from (`tests.fixtures.kafka.free_port`)."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def one(self) -> int:
        return self._draw(1)

    def pair(self) -> int:
        """A port p with p and p + 1 free (a base port of two workers)."""
        return self._draw(2)

    def _draw(self, count: int) -> int:
        for _ in range(200):
            port = fixture_free_port()
            block = set(range(port, port + count))
            if block & self.taken or not all(_bindable(p) for p in block - {port}):
                continue
            self.taken |= block
            return port
        raise RuntimeError(f"no {count} consecutive free ports")


def write_deployment(base: Path, name: str) -> Path:
    ports = _Ports()
    doc = {
        "data_dir": str(base / name),
        "supervisor": {"http_port": ports.one()},
        "kafka": {"port": ports.one(), "controller_port": ports.one(), "heap": "512m"},
        "postgres": {"port": ports.one(), "options": "-c fsync=off -c synchronous_commit=off"},
        "telemetry": {"port": ports.one(), "workers": 2, "metrics_port": ports.pair()},
        "leakdetect": {"workers": 2, "grpc_port": ports.pair(), "metrics_port": ports.pair()},
        "workorders": {"grpc_port": ports.one(), "metrics_port": ports.one()},
        "console": {"port": ports.one(), "metrics_port": ports.one()},
        "restart": {"start_seconds": 3, "start_retries": 10},
        "start_timeout_s": 420,
    }
    path = base / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def cli(file: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
    return subprocess.run([sys.executable, "-m", "deploy.local", "--file", str(file), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Running:
    file: Path
    deployment: Deployment

    def status(self) -> subprocess.CompletedProcess[str]:
        return cli(self.file, "status", timeout=60)

    def pids(self) -> dict[str, int]:
        return {p["name"]: int(p["pid"]) for p in rpc(self.deployment).supervisor.getAllProcessInfo()}

    def wait_healthy(self, timeout_s: float) -> subprocess.CompletedProcess[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.status()
            if result.returncode == 0 or time.monotonic() > deadline:
                return result
            time.sleep(1)

    def secrets(self) -> dict[str, Any]:
        return yaml.safe_load(self.deployment.secrets_file.read_text()) or {}
