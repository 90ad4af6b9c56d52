"""`make rotate-kafka-password` refuses clearly where there is nothing to rotate (fast; the rotation itself runs on
real brokers: test_kafka_tls_options.py, and on a TLS deployment: tests/deploy/test_tls_deployment.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.local.deployment import main


@pytest.mark.parametrize(("tls", "says"), [(False, "tls: false"), (True, "is not running")])
def test_it_refuses_a_plaintext_or_stopped_deployment(tmp_path: Path, capsys: pytest.CaptureFixture[str], tls: bool,
                                                      says: str) -> None:
    file = tmp_path / "pipewarden.yaml"
    file.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "tls": tls}))
    assert main(["--file", str(file), "rotate-kafka-password"]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "data" / "tls" / "kafka-password").exists()  # nothing made, nothing changed
