"""The replay CLI reports each segment's learned baseline (issue 24): a text line per segment, and the segment's
baseline in every alarm's JSON line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.leakdetect.domain import Alarm
from services.leakdetect.entrypoints.replay import EXIT_OK, main, write_json
from services.network import conversion_to_si
from services.network._loader import DEMO_NETWORK_PATH

from .test_facade_learning import NET, SEG, T0_S, _pipeline, _readings


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = _readings(T0_S, 4800, seed=5)  # the CLI learns over the default hour
    value = np.asarray(r["value"], float).copy()
    for tid in np.unique(r["tag"]):
        t = NET.tags[tid]
        conv = conversion_to_si(t.kind, t.unit, NET.gas.specific_gravity)
        sel = r["tag"] == tid
        value[sel] = (value[sel] - conv.offset) / conv.scale
    path = tmp_path_factory.mktemp("baseline") / "history.csv"
    pd.DataFrame({"tag_id": r["tag"], "time_unix_s": r["time_unix_s"], "value": value, "quality": 1}).to_csv(
        path, index=False)
    return path


def test_the_text_output_names_each_segments_baseline(history: Path, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--network", str(DEMO_NETWORK_PATH), "--readings", str(history), "--quiet"], stdout=out, stderr=err)
    assert code == EXIT_OK, err.getvalue()
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith(f"baseline {SEG}:")]
    assert len(lines) == 1
    assert "initial at 2026-01-01" in lines[0] and "offset " in lines[0] and "kappa" in lines[0]
    assert "MDLR 15 min" in lines[0] and "re-learnings 0 adopted, 0 rejected" in lines[0]
    # segments without readings say they have not learned
    assert any(ln.startswith("baseline ") and "not learned" in ln for ln in out.getvalue().splitlines())


def test_json_lines_carry_the_segments_baseline(tmp_path: Path) -> None:
    p = _pipeline()
    p.feed(**_readings(T0_S, 2700, seed=6), si_units=True)
    alarm = Alarm(number=0, kind="leak", segment=SEG, onset_unix_s=T0_S, decided_unix_s=T0_S, methods=("mass_balance",))
    path = tmp_path / "a.jsonl"
    write_json([alarm], path, {SEG: p.baseline(SEG)})
    record = json.loads(path.read_text())
    assert record["baseline"]["source"] == "initial" and record["baseline"]["learned"] is True
    assert record["baseline"]["offset_kg_per_s"] == pytest.approx(p.baseline(SEG).offset_kg_per_s)
    assert record["baseline"]["next_relearn_unix_s"] > T0_S
