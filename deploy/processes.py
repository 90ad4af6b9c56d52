"""Child processes of the demo, the benchmarks and the tests: wait until one listens, stop one cleanly.

    wait_for_port("127.0.0.1", 50051, process, "telemetry", timeout_s=60)   # ProcessExited / NotListening
    stop(process, grace_s=15)                                               # SIGTERM, then SIGKILL
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Any


class ProcessExited(RuntimeError):
    """The process ended while we waited for it to listen."""


class NotListening(RuntimeError):
    """The process did not listen within the time it was given."""


def wait_for_port(
    host: str, port: int, process: subprocess.Popen[Any], name: str, *, timeout_s: float, poll_s: float = 0.1
) -> None:
    """Return once ``host:port`` accepts a connection; raise as soon as ``process`` has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessExited(f"{name} exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(poll_s)
    raise NotListening(f"{name} did not listen on {host}:{port} within {timeout_s:.0f} s")


def stop(process: subprocess.Popen[Any], *, grace_s: float = 15.0) -> int:
    """SIGTERM, ``grace_s`` to finish, then SIGKILL; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)
