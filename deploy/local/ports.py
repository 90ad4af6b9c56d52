"""Is a TCP port free on 127.0.0.1, and if not, which process holds it (from /proc, no extra tools)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

_LISTEN = "0A"  # TCP state code of a listening socket in /proc/net/tcp*


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``: a plain bind (no SO_REUSEPORT) succeeds.

    gRPC servers bind with SO_REUSEPORT, so a second one would silently share the port; this bind does
    not set it and therefore fails against any listener, whatever its options.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no holders
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_holders(port: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process with a listening socket on ``port`` that we may inspect."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    targets = {f"socket:[{inode}]" for inode in inodes}
    holders: list[tuple[int, str]] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
            found = any(os.readlink(fd.path) in targets for fd in fds)
        except OSError:  # gone, or another user's process
            continue
        if found:
            holders.append((int(entry.name), command_line(int(entry.name))))
    return holders


def command_line(pid: int, limit: int = 120) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_holder(port: int) -> str:
    """'pid 1234 (java -Xms256m ...)', or why we cannot say."""
    holders = port_holders(port)
    if not holders:
        return "a process this user cannot see (or a socket not yet listening)"
    return ", ".join(f"pid {pid} ({cmd})" for pid, cmd in holders)
