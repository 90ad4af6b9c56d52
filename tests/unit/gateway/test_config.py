"""The gateway's configuration file and command line fed garbage: each refusal names the file, the entry and
the problem; no traceback."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway.config import GatewayConfigError, load_config, read_token

ROOT = Path(__file__).resolve().parents[3]


def good(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "gw.token").write_text("secret-token\n")
    return {
        "gateway_id": "gw-ds-01",
        "telemetry": {"target": "127.0.0.1:50051", "token_file": "gw.token"},
        "queue": {"path": "queue.sqlite3", "max_readings": 1000, "when_full": "block"},
        "modbus": [
            {
                "name": "rtu-1",
                "host": "127.0.0.1",
                "port": 1502,
                "tags": [
                    {"tag": "DS-M01-PT-UP", "unit_id": 1, "address": 0, "data_type": "float32", "word_order": "little"},
                    {"tag": "DS-M01-FT-UP", "address": 2, "data_type": "int16", "scale": 0.1, "offset": 5},
                ],
            }
        ],
        "opcua": [
            {
                "name": "plc-1",
                "url": "opc.tcp://127.0.0.1:4840/",
                "tags": [{"tag": "DS-M01-TT-UP", "node_id": "ns=2;s=TT"}],
            }
        ],
    }


def write(tmp_path: Path, config: Any) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(config) if not isinstance(config, str) else config)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, good(tmp_path)), env={})
    assert config.gateway_id == "gw-ds-01" and config.tag_count == 3
    tag = config.modbus[0].tags[1]
    assert (tag.scale, tag.offset, tag.scan_period_s) == (0.1, 5.0, 1.0)  # the scan period from the network model
    assert config.queue.path == tmp_path / "queue.sqlite3"  # relative to the file
    assert read_token(config.telemetry.token_file) == "secret-token"


def mutate(tmp_path: Path, change: Any) -> dict[str, Any]:
    config = copy.deepcopy(good(tmp_path))
    change(config)
    return config


CASES = [
    (lambda c: c.pop("gateway_id"), "top level: missing gateway_id"),
    (lambda c: c.update(gateway_id="gw-nowhere"), "gateway_id: 'gw-nowhere' is not a gateway"),
    (lambda c: c.update(colour="red"), "unknown setting(s) colour"),
    (lambda c: c["telemetry"].update(token_file="missing.token"), "token_file"),
    (lambda c: c["queue"].update(when_full="panic"), "queue: when_full must be one of drop_oldest, block, got 'panic'"),
    (lambda c: c["queue"].update(max_readings=0), "queue: max_readings must be in [1,"),
    (
        lambda c: c["modbus"][0]["tags"][0].update(data_type="float"),
        "modbus[0] (rtu-1).tags[0] (DS-M01-PT-UP): data_type must be one of",
    ),
    (
        lambda c: c["modbus"][0]["tags"][0].update(word_order="middle"),
        "tags[0] (DS-M01-PT-UP): word_order must be one of big, little",
    ),
    (lambda c: c["modbus"][0]["tags"][1].update(address=-1), "tags[1] (DS-M01-FT-UP): address must be in [0,"),
    (lambda c: c["modbus"][0]["tags"][1].update(unit_id=300), "unit_id must be in [0, 255], got 300"),
    (lambda c: c["modbus"][0]["tags"][1].update(scale=0), "scale must not be 0"),
    (lambda c: c["modbus"][0]["tags"][1].update(scale="big"), "scale must be a finite number, got 'big'"),
    (lambda c: c["modbus"][0]["tags"][1].update(tag="KB-M01-PT-UP"), "belongs to gateway 'gw-kb-01', not 'gw-ds-01'"),
    (lambda c: c["modbus"][0]["tags"][1].update(tag="NO-SUCH"), "tag 'NO-SUCH' is not in network"),
    (lambda c: c["modbus"][0]["tags"][1].update(tag="DS-M01-PT-UP"), "already mapped by modbus[0] (rtu-1).tags[0]"),
    (lambda c: c["modbus"][0]["tags"][1].update(scan_period_s=-1), "scan_period_s must be > 0"),
    (lambda c: c["modbus"][0].update(port="five"), "modbus[0] (rtu-1): port must be an integer, got 'five'"),
    (lambda c: c["modbus"][0].update(tags=[]), "modbus[0] (rtu-1): tags must be a non-empty list"),
    (
        lambda c: c["modbus"].append(
            c["modbus"][0] | {"tags": [{"tag": "DS-M02-PT-UP", "address": 0, "data_type": "int16"}]}
        ),
        "source name 'rtu-1' is used twice",
    ),
    (lambda c: c["opcua"][0].update(url="http://x"), "opcua[0] (plc-1): url must start with opc.tcp://"),
    (lambda c: c["opcua"][0]["tags"][0].update(node_id="TT"), "node_id 'TT' is not an OPC UA node id"),
    (lambda c: c["opcua"][0].update(subscribe="yes"), "subscribe must be true or false"),
    (lambda c: (c.pop("modbus"), c.pop("opcua")), "no sources"),
    (lambda c: c.update(modbus={"name": "x"}), "modbus: must be a list"),
    (lambda c: c["health"] if False else c.update(health={"port": 70000}), "health: port must be in [-1, 65535]"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_garbage_is_refused_naming_the_entry(tmp_path: Path, change: Any, message: str) -> None:
    path = write(tmp_path, mutate(tmp_path, change))
    with pytest.raises(GatewayConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gateway_id: [unclosed", "not valid YAML"),
        ("- a list", "must be a mapping, got list"),
        ("", "must be a mapping, got NoneType"),
    ],
)
def test_not_a_config_at_all(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GatewayConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_missing_file_and_bad_tokens(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.yaml", env={})
    (tmp_path / "t").write_text("two tokens\n")
    with pytest.raises(GatewayConfigError, match="must hold one token"):
        read_token(tmp_path / "t")
    (tmp_path / "t").write_text("\n")
    with pytest.raises(GatewayConfigError, match="must hold one token"):
        read_token(tmp_path / "t")


def test_cli_refuses_a_bad_file_with_exit_code_2_and_no_traceback(tmp_path: Path) -> None:
    config = mutate(tmp_path, lambda c: c["modbus"][0]["tags"][0].update(data_type="float"))
    path = write(tmp_path, config)
    result = subprocess.run(
        [sys.executable, "-m", "services.gateway", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "modbus[0] (rtu-1).tags[0] (DS-M01-PT-UP): data_type must be one of" in result.stderr
    assert "Traceback" not in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "services.gateway", "--config", str(write(tmp_path, good(tmp_path))), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "3 tags" in ok.stdout
    none = subprocess.run(
        [sys.executable, "-m", "services.gateway"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": ""},
    )
    assert none.returncode == 2 and "no configuration" in none.stderr
