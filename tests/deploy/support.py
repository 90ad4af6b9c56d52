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

REPO = Path(__file__).resolve().parents[2]


def _free_port_pair() -> int:
    """A port p with p and p + 1 free (a base port of two workers)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 65535:
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no two consecutive free ports")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_deployment(base: Path, name: str) -> Path:
    doc = {
        "data_dir": str(base / name),
        "supervisor": {"http_port": free_port()},
        "kafka": {"port": free_port(), "controller_port": free_port(), "heap": "512m"},
        "postgres": {"port": free_port(), "options": "-c fsync=off -c synchronous_commit=off"},
        "telemetry": {"port": free_port(), "workers": 2, "metrics_port": _free_port_pair()},
        "leakdetect": {"workers": 2, "grpc_port": _free_port_pair(), "metrics_port": _free_port_pair()},
        "workorders": {"grpc_port": free_port(), "metrics_port": free_port()},
        "console": {"port": free_port(), "metrics_port": free_port()},
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
