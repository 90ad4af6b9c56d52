"""The false-alarm diagnosis tool: its arithmetic, its outage finder and its command line fed garbage (no
simulation: those take minutes)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import diagnose_false_alarms as D
from services.gasflow.scada import Readings


def test_decompose_splits_an_imbalance_into_meters_line_pack_and_simulator() -> None:
    # meters read 0.02 kg/s too much net inflow, the baseline removes 0.005 of it; the detector's line pack fell
    # 30 kg over the 600-s window while the truth fell 6 kg; the truth conserves mass
    n = 20
    net_true = np.full(n, -0.01)
    net_meas = net_true + 0.02
    d = D._decompose(net_meas, net_true, np.full(n, 5.0), -30.0, -6.0, 600.0, a=0.005, g=0.0)
    assert d["baseline_error_kg_per_s"] == pytest.approx(0.015)
    assert d["line_pack_error_kg_per_s"] == pytest.approx(24.0 / 600.0)
    assert d["simulator_residual_kg_per_s"] == pytest.approx(0.0)
    assert d["sum_kg_per_s"] == pytest.approx(0.015 + 0.04)


def test_gaps_near_finds_an_outage_that_covers_the_alarm() -> None:
    t0 = 1.0e9
    t = np.concatenate([np.arange(0.0, 1000.0, 0.5), np.arange(1200.0, 2000.0, 0.5)])  # silent 1000..1200 s
    rd = Readings(("PT",), np.zeros(t.size, np.int32), np.round((t0 + t) * 1e6).astype(np.int64),
                  np.ones(t.size), np.ones(t.size, np.int8))
    gaps = D._gaps_near(rd, ["PT"], t0 + 1100.0, t0)
    assert list(gaps) == ["PT"]
    (start_h, end_h), = gaps["PT"]
    assert start_h * 3600 == pytest.approx(999.5) and end_h * 3600 == pytest.approx(1200.0)
    assert D._gaps_near(rd, ["PT"], t0 + 1900.0, t0, span_s=300.0) == {}


@pytest.mark.parametrize("argv, problem", [
    (["--layouts", "a,b"], "comma-separated integers"),
    (["--layouts", "99"], "indices 0..27"),
    (["--layouts", ""], "indices 0..27"),
    (["--hours", "nan"], "--hours"),
    (["--hours", "0"], "--hours"),
])
def test_cli_refuses_garbage_with_a_clear_message(argv: list[str], problem: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert D.main(argv) == 2
    assert problem in capsys.readouterr().err


def test_cli_refuses_an_unknown_suite() -> None:
    with pytest.raises(SystemExit) as e:
        D.main(["--suite", "nonsense"])
    assert e.value.code == 2
