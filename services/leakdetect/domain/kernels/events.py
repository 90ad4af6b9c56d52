"""The kernels' event arrays and what each kind's columns mean: the one place that knows. `_emit` (common.py)
writes rows of (kind, segment, role, time, onset, code | value, sigma, aux1, aux2, aux3); `drain` copies them
out as a structured array (`EVENT_DTYPE`); `decode_events` turns that into the named events of `..events`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .. import events as E
from ..layout import (
    EF_AUX1,
    EF_AUX2,
    EF_AUX3,
    EF_SIGMA,
    EF_VALUE,
    EI_CODE,
    EI_KIND,
    EI_ONSET,
    EI_ROLE,
    EI_SEG,
    EI_TIME,
    EV_BALANCE_RESUMED,
    EV_BALANCE_SUSPENDED,
    EV_BASELINE_LEARNED,
    EV_BASELINE_REJECTED,
    EV_HEALTH,
    EV_LEAK,
    EV_LEAK_CLEARED,
    EV_LEAK_LOCATION,
    EV_LEAK_UPDATE,
    EV_METHANE,
    EV_METHANE_CLEARED,
    EV_METHANE_RISE,
    EV_NPW_BOUNDARY,
    EV_NPW_LEAK,
    EV_NPW_UNPAIRED,
    EV_RUPTURE,
)

EVENT_DTYPE = np.dtype(
    [
        ("kind", np.int16),
        ("segment", np.int32),
        ("role", np.int16),
        ("time_us", np.int64),
        ("onset_us", np.int64),
        ("code", np.int32),
        ("value", np.float64),
        ("sigma", np.float64),
        ("aux1", np.float64),
        ("aux2", np.float64),
        ("aux3", np.float64),
    ]
)


def drain(ev_i: npt.NDArray[np.int64], ev_f: npt.NDArray[np.float64], n_ev: npt.NDArray[np.int64]
          ) -> npt.NDArray[np.void]:
    """The events written since the last drain, as an `EVENT_DTYPE` array; empties the buffer."""
    k = int(n_ev[0])
    out = np.empty(k, dtype=EVENT_DTYPE)
    ei = ev_i[:k]
    ef = ev_f[:k]
    out["kind"] = ei[:, EI_KIND]
    out["segment"] = ei[:, EI_SEG]
    out["role"] = ei[:, EI_ROLE]
    out["time_us"] = ei[:, EI_TIME]
    out["onset_us"] = ei[:, EI_ONSET]
    out["code"] = ei[:, EI_CODE]
    out["value"] = ef[:, EF_VALUE]
    out["sigma"] = ef[:, EF_SIGMA]
    out["aux1"] = ef[:, EF_AUX1]
    out["aux2"] = ef[:, EF_AUX2]
    out["aux3"] = ef[:, EF_AUX3]
    n_ev[0] = 0
    return out


def _one(e: np.void) -> E.DetectorEvent | None:
    kind = int(e["kind"])
    seg, role, t, onset, code = int(e["segment"]), int(e["role"]), int(e["time_us"]), int(e["onset_us"]), int(e["code"])
    v, sg, a1, a2, a3 = float(e["value"]), float(e["sigma"]), float(e["aux1"]), float(e["aux2"]), float(e["aux3"])
    if kind == EV_LEAK:
        return E.LeakRaised(seg, t, onset, v, sg, statistic=a1, test=code, mdlr_kg_per_s=a3)
    if kind == EV_LEAK_UPDATE:
        return E.LeakUpdated(seg, t, onset, v, sg, blocks=code, cusum=a1, mdlr_kg_per_s=a3)
    if kind == EV_LEAK_LOCATION:
        return E.LeakLocated(seg, t, onset, code, v, sg, a1 if a2 < float("inf") else float("nan"), a2, a3)
    if kind == EV_LEAK_CLEARED:
        return E.LeakCleared(seg, t, v, sg)
    if kind == EV_NPW_LEAK:
        return E.PressureWaveLeak(seg, t, onset, v, sg, a1, a2, a3)
    if kind == EV_NPW_BOUNDARY:
        return E.PressureWaveOperation(seg, role, t, onset, code, v, sg, a1, a2, a3)
    if kind == EV_NPW_UNPAIRED:
        return E.PressureWaveUnpaired(seg, role, t, onset, code, v)
    if kind == EV_RUPTURE:
        return E.Rupture(seg, role, t, onset, v, a1, a2, code, a3)
    if kind == EV_METHANE:
        return E.MethaneLevel(seg, role, t, code, v, a1, int(a2), a3 != 0.0)
    if kind == EV_METHANE_RISE:
        return E.MethaneRise(seg, role, t, v, a1, int(a2), a3 != 0.0)
    if kind == EV_METHANE_CLEARED:
        return E.MethaneCleared(seg, role, t, v, a1, a3 != 0.0)
    if kind == EV_HEALTH:
        return E.SensorHealthChanged(seg, role, t, code, int(a1), v)
    if kind == EV_BALANCE_SUSPENDED:
        return E.BalanceSuspended(seg, t)
    if kind == EV_BALANCE_RESUMED:
        return E.BalanceResumed(seg, t)
    if kind == EV_BASELINE_LEARNED:
        return E.BaselineLearned(seg, t, v, sg, a1, a2, source=code, window_start_us=onset, throughput_kg_per_s=a3)
    if kind == EV_BASELINE_REJECTED:  # issue 24 learning
        return E.BaselineRejected(seg, t, onset, code, v, sg, a1, a2, a3)
    return None  # a kind this version does not know: not guessed at


def decode_events(events: npt.NDArray[np.void]) -> list[E.DetectorEvent]:
    """Named events of an `EVENT_DTYPE` array, in its order (a handful per batch: never one per reading)."""
    out = [_one(e) for e in events]
    return [e for e in out if e is not None]


