"""The replay CLI's PNG per alarm: the balance's imbalance against its threshold, and the pressure at every
meter of the segment (mid-line ones included) with the onset, the decision and the position marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.leakdetect.adapters.history_file import History
from services.leakdetect.domain import Alarm, Pipeline
from services.network import Network, TagKind, conversion_to_si

BEFORE_S = 1800.0  # shown before the onset
AFTER_S = 1800.0  # shown after the decision
PLOT_WINDOWS_S = (240.0, 900.0)  # the 4-min and the 15-min window


def alarm_plot(path: Path, alarm: Alarm, pipeline: Pipeline, network: Network, history: History,
               samples: list[tuple[float, dict[str, np.ndarray]]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seg_i = pipeline.segment_ids.index(alarm.segment)
    t_lo, t_hi = alarm.onset_unix_s - BEFORE_S, alarm.decided_unix_s + AFTER_S
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    st = np.array([t for t, _ in samples])
    sel = (st >= t_lo) & (st <= t_hi)
    windows = pipeline.window_lengths_s()
    for w_s in PLOT_WINDOWS_S:
        if w_s not in windows or not sel.any():
            continue
        w = windows.index(w_s)
        imb = np.array([tab["imbalance_kg_per_s"][seg_i, w] for _, tab in samples])[sel]
        thr = np.array([tab["threshold_kg_per_s"][seg_i, w] for _, tab in samples])[sel]
        x = (st[sel] - alarm.onset_unix_s) / 60.0
        line = ax1.plot(x, imb, label=f"imbalance, {w_s / 60:g}-min window")[0]
        ax1.plot(x, np.where(np.isfinite(thr), thr, np.nan), "--", color=line.get_color(),
                 label=f"threshold (stated MDLR), {w_s / 60:g} min")
    ax1.set_ylabel("kg/s")
    ax1.set_title(f"{alarm.kind} on {alarm.segment}: " + ", ".join(alarm.methods)
                  + (f"; {alarm.rate_kg_per_s:.3f} kg/s" if alarm.rate_kg_per_s is not None else "")
                  + (f"; at {alarm.position_m / 1000:.2f} km" if alarm.position_m is not None else ""))
    if not sel.any():
        ax1.text(0.5, 0.5, "no status sampled here", transform=ax1.transAxes, ha="center")
    tags = sorted((t for t in network.tags_of_segment(alarm.segment) if t.kind is TagKind.PRESSURE),
                  key=lambda t: t.position_m)
    index = {t: i for i, t in enumerate(pipeline.tag_ids)}
    lo_us, hi_us = round(t_lo * 1e6), round(t_hi * 1e6)
    window = (history.time_unix_us >= lo_us) & (history.time_unix_us <= hi_us)
    for tag in tags:
        k = index.get(tag.tag_id)
        if k is None:
            continue
        mine = window & (history.tag_index == k)
        conv = conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity)
        p_bar = (history.value[mine] * conv.scale + conv.offset) / 1e5
        x = (history.time_unix_us[mine] / 1e6 - alarm.onset_unix_s) / 60.0
        o = np.argsort(x, kind="stable")
        ax2.plot(x[o], p_bar[o], lw=0.8, label=f"{tag.tag_id} ({tag.position_m / 1000:g} km)")
    ax2.set_ylabel("pressure, bar abs")
    ax2.set_xlabel(f"minutes from the onset ({alarm.onset_unix_s:.0f} s since the epoch)")
    for ax in (ax1, ax2):
        ax.axvline(0.0, color="red", lw=1, label="onset" if ax is ax1 else None)
        ax.axvline((alarm.decided_unix_s - alarm.onset_unix_s) / 60.0, color="black", lw=1, ls=":",
                   label="decided" if ax is ax1 else None)
        ax.grid(alpha=0.3)
    if alarm.position_m is not None:
        ax2.text(0.01, 0.03, f"position {alarm.position_m / 1000:.2f} km"
                 + (f" [{alarm.position_interval_m[0] / 1000:.2f}, {alarm.position_interval_m[1] / 1000:.2f}]"
                    if alarm.position_interval_m else "") + " from the upstream end",
                 transform=ax2.transAxes)
    ax1.legend(fontsize=7, loc="upper left")
    ax2.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
