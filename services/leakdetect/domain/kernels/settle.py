"""The quasi-steady line pack's settling lead (issue 24): after an operation (a set-point or demand move) the
profile leads the gas inside over the segment's settling time. Its allowance widens the decision's tests
(`decision`) and keeps the blocks of a settling line out of learning (`learning`).
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import R_A, R_INVALID, R_LP, R_LP_VAR, R_M, R_Q, R_STL_M, R_STL_NK, R_STL_NSB, R_TIME, R_V
from .common import _jit_inline

# weights of the settling lead's boxes of ages [0, 1), [1, 2), [2, 3), [3, 4) settling times: exp(-age) stepwise
SETTLE_BOXES = 4
SETTLE_BOX_DECAY = math.exp(-1.0)


@_jit_inline
def _box_move(ring, s, a, b, noise_k):
    """Line-pack movement (kg) between the ring positions b (older) and a: the blocks' movement beyond noise
    (R_A), or the net change over the span beyond noise if larger (a slow demand move hides below each block's
    noise and shows over several)."""
    mv = ring[s, a, R_A] - ring[s, b, R_A]
    net = abs(ring[s, a, R_LP] - ring[s, b, R_LP]) - noise_k * math.sqrt(ring[s, a, R_LP_VAR] + ring[s, b, R_LP_VAR])
    return max(mv, net)


@_jit_inline
def _box_opposed(ring, s, a, b, settle):
    """Line-pack movement (kg) between the ring positions b (older) and a that the ends' net inflow matched: an
    operation packs or unpacks the line through its ends (the net inflow after the baseline, settle[3] + settle[4]
    q, and the line pack move the same way, and the balance is their small difference), a leak takes gas out
    between them (the line pack falls while the net inflow rises: no match, nothing counts). The smaller of the
    two, beyond noise_k s.d. of both; 0 where they move apart."""
    dt = (ring[s, a, R_TIME] - ring[s, b, R_TIME]) * 1e-6
    inflow = ring[s, a, R_M] - ring[s, b, R_M] - (settle[3] * dt + settle[4] * (ring[s, a, R_Q] - ring[s, b, R_Q]))
    moved = ring[s, a, R_LP] - ring[s, b, R_LP]
    if not (inflow * moved > 0.0):
        return 0.0
    noise = settle[2] * math.sqrt(max(ring[s, a, R_V] - ring[s, b, R_V], 0.0) + ring[s, a, R_LP_VAR]
                                  + ring[s, b, R_LP_VAR])
    return max(min(abs(inflow), abs(moved)) - noise, 0.0)


@_jit_inline
def _settle_move(ring, s, a, b, settle):
    """The movement a settling box counts: all of it (`_box_move`), or with settle[5] != 0 only what the ends'
    net inflow matched (`_box_opposed`: an operation's, not a leak's)."""
    if settle[5] != 0.0:
        return _box_opposed(ring, s, a, b, settle)
    return _box_move(ring, s, a, b, settle[2])


@_jit_inline
def _settle_sd(ring, s, p, age, n_blocks, settle):
    """1 s.d. (kg) of the quasi-steady line pack's lead over the gas inside at the block boundary p of the ring,
    `age` blocks before the newest; settle = (eps, settling time in blocks, lp_noise_k, baseline offset, gain,
    opposed) from `_decide`.

    The profile takes the end pressures as they are, while the gas between them follows by diffusion over the
    segment's settling time T_s (line_pack._settle_time): after a set-point move the profile leads (or, where the
    flows' packing term overshoots, lags) the true line pack by up to a third of the movement on a long line, and
    the lead decays as the line settles. So `eps` of the line-pack movement before p counts (`_box_move`),
    weighted exp(-age / T_s) in steps of T_s (four boxes: O(1) from the ring, however long T_s), as far as the
    ring and the valid blocks reach. Where they do not reach four settling times back (the hour's window's start,
    after an outage), the movement over the settling time after p stands in for what they cannot show: a line
    moving just after p was moving at p. The two ends of a window count as independent: the lead's share of the
    movement changes through a move (it peaks and decays while the movement goes on), so a difference of leads
    would miss most of it (tried: the false alarms came back). With `opposed` only the movement the ends'
    net inflow matched counts (`_box_opposed`): a leak's own unpacking is not an operation's settling."""
    eps = settle[0]
    if not (eps > 0.0):
        return 0.0
    nr = ring.shape[1]
    n_back = min(n_blocks, nr) - 1 - age
    nsb = np.int64(settle[1])
    cut = n_back < SETTLE_BOXES * nsb
    # where the ring reaches the four boxes back, m is a function of rows that never change once written (and of
    # the settling time in blocks and the noise factor): kept in row p (R_STL_*) the first time, read after (the
    # same number); not with `opposed`, whose match also takes the baseline in use
    keep = not cut and settle[5] == 0.0
    if keep and ring[s, p, R_STL_NSB] == settle[1] and ring[s, p, R_STL_NK] == settle[2]:
        return eps * ring[s, p, R_STL_M]
    m = 0.0
    wgt = 1.0
    hi = 0
    for box in range(SETTLE_BOXES):
        lo = min((box + 1) * nsb, n_back)
        if lo > hi:
            a = (p - hi) % nr
            b = (p - lo) % nr
            if ring[s, a, R_INVALID] != ring[s, b, R_INVALID]:
                cut = True  # an invalid block (no line pack, or a silent meter): the history ends there
                break
            m += wgt * _settle_move(ring, s, a, b, settle)
        hi = lo
        wgt *= SETTLE_BOX_DECAY
    ahead = min(nsb, age)
    if cut and ahead > 0 and ring[s, (p + ahead) % nr, R_INVALID] == ring[s, p, R_INVALID]:
        m += _settle_move(ring, s, (p + ahead) % nr, p, settle)
    if keep and not cut:
        ring[s, p, R_STL_M] = m
        ring[s, p, R_STL_NSB] = settle[1]
        ring[s, p, R_STL_NK] = settle[2]
    return eps * m


@_jit_inline
def _signed_move(ring, s, a, b, settle):
    """The line-pack movement (kg) between the ring positions b (older) and a as `_settle_move` counts it, with the
    sign of the line pack's net change: packing positive, unpacking negative."""
    if settle[5] != 0.0:
        m = _box_opposed(ring, s, a, b, settle)
    else:
        m = abs(ring[s, a, R_LP] - ring[s, b, R_LP]) - settle[2] * math.sqrt(ring[s, a, R_LP_VAR]
                                                                              + ring[s, b, R_LP_VAR])
        m = max(m, 0.0)
    return m if ring[s, a, R_LP] - ring[s, b, R_LP] >= 0.0 else -m


@_jit_inline
def _settle_lead(ring, s, p, reach, settle):
    """The quasi-steady line pack's lead (kg, signed) at the block boundary p as a first-order lag over the settling
    time gives it: eps of the signed movement before p, weighted exp(-age / T_s) in the boxes of `_settle_sd`, over
    `reach` blocks back from p (valid blocks: the caller checks). A window's error is the lead at its end
    less the lead at its start, both over the same reach (so a truncated history cancels): a line moving at a
    steady rate leads by the same amount at both ends, and only a change of rate between them (an operation's
    start or end, a demand swing's turn) is left."""
    eps = settle[0]
    if not (eps > 0.0) or reach <= 0:
        return 0.0
    nr = ring.shape[1]
    nsb = np.int64(settle[1])
    m = 0.0
    wgt = 1.0
    hi = 0
    for box in range(SETTLE_BOXES):
        lo = min((box + 1) * nsb, reach)
        if lo > hi:
            m += wgt * _signed_move(ring, s, (p - hi) % nr, (p - lo) % nr, settle)
        hi = lo
        wgt *= SETTLE_BOX_DECAY
    return eps * m
