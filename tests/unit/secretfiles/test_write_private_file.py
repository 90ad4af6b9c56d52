"""Secret files: mode 0600 from the first byte, replaced whole, no temporary left behind."""

from __future__ import annotations

import stat
from pathlib import Path

from services.secretfiles import write_private_file


def test_a_new_file_is_0600_and_holds_the_text(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "secrets.yaml"  # parent folders are made
    write_private_file(path, "password: s3cret\n")
    assert path.read_text() == "password: s3cret\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_replacing_a_readable_file_leaves_it_private_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_private_file(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_a_public_file_gets_the_mode_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    write_private_file(path, "{}", mode=0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
