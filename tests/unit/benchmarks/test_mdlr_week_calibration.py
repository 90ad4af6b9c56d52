"""`benchmarks.mdlr_week_calibration.summary`: the stated 15-min MDLR split into its terms, the suite's figure, and
the calibration of z by throughput band, on made-up samples whose answers are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.mdlr_week_calibration import main, summary

NOM = 10.0  # kg/s
Z = 5.0


def _row(t_s: float, q: float, gain_sd: float, q_bar: float, level_var: float, rest_var: float,
         z: list[float], latched: bool = False) -> dict:
    var_gain = gain_sd**2 * (q - q_bar) ** 2
    var_total = var_gain + level_var + rest_var
    return {"t_s": t_s, "q_over_nominal": q / NOM, "mdlr_pct": 100.0 * Z * math.sqrt(var_total) / NOM,
            "var_total": var_total, "var_level": level_var, "var_gain": var_gain, "gain_sd": gain_sd, "kappa": 1.0,
            "latched": latched, "z": z}


def _run(rows: list[dict]) -> dict:
    return {"layout_id": "x", "nominal_flow_kg_per_s": NOM, "z_window": Z, "rows": rows, "alarms": []}


def test_the_terms_add_up_to_the_stated_mdlr_and_the_gain_term_is_told_apart() -> None:
    # day 0 at the baseline's throughput (no gain term), day 1 2 kg/s away from it with a 0.01 gain s.d.
    rows = [_row(600.0 * (i + 1), 7.0, 0.01, 7.0, 1e-4, 4e-4, [0.0]) for i in range(144)]
    rows += [_row(86400.0 + 600.0 * (i + 1), 9.0, 0.01, 7.0, 1e-4, 4e-4, [0.0]) for i in range(144)]
    s = summary(_run(rows))
    d0, d1 = s["days"]
    assert d0["gain_median_pct"] == pytest.approx(0.0, abs=1e-9)
    assert d1["gain_median_pct"] == pytest.approx(100.0 * Z * 0.01 * 2.0 / NOM)  # 5 x 0.02 kg/s = 1 % of 10 kg/s
    assert d0["level_median_pct"] == pytest.approx(100.0 * Z * 1e-2 / NOM)
    assert d1["rest_median_pct"] == pytest.approx(100.0 * Z * 2e-2 / NOM)
    for d in (d0, d1):  # independent terms: their squares add to the stated MDLR's
        assert math.hypot(d["gain_median_pct"], d["level_median_pct"], d["rest_median_pct"]) == pytest.approx(
            d["mdlr_median_pct"])
    # the suite's figure: the week's p90 over the first day's median (day 1 is the higher)
    assert s["mdlr_week_p90_over_first_day"] == pytest.approx(d1["mdlr_median_pct"] / d0["mdlr_median_pct"])


def test_z_is_calibrated_by_throughput_band_and_latched_samples_are_left_out() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(3000):
        q = float(rng.uniform(2.0, 11.0))
        sd = 2.0 if q >= 8.5 else 1.0  # over-dispersed at the day's peaks only
        rows.append(_row(60.0 * (i + 1), q, 0.0, 7.0, 1e-4, 1e-4, [float(rng.normal(0.0, sd))]))
    rows.append(_row(60.0 * 3001, 3.0, 0.0, 7.0, 1e-4, 1e-4, [50.0], latched=True))  # an alarm's: not leak-free
    bands = {tuple(b["q_over_nominal"]): b for b in summary(_run(rows))["z_by_throughput"]}
    assert bands[(0.0, 0.6)]["z_sd"][0] == pytest.approx(1.0, abs=0.1)
    assert bands[(0.6, 0.85)]["z_sd"][0] == pytest.approx(1.0, abs=0.1)
    assert bands[(0.85, math.inf)]["z_sd"][0] == pytest.approx(2.0, abs=0.2)
    assert bands[(0.85, math.inf)]["beyond_3"][0] > 0.1


@pytest.mark.parametrize("argv", [
    ["--layouts", "abc"], ["--layouts", "99"], ["--layouts", "1,"], ["--days", "0"], ["--days", "many"],
    ["--param", "nope=1"], ["--param", "z_window=abc"], [],
])
def test_the_cli_refuses_garbage_before_simulating_anything(argv: list[str], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cal.json"
    with pytest.raises(SystemExit) as exc:
        main(argv + (["--out", str(out)] if argv else []))
    assert exc.value.code == 2  # argparse's usage error, with the reason on stderr
    assert "error:" in capsys.readouterr().err
    assert not out.exists()
