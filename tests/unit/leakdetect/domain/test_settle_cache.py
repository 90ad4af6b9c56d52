"""The settling lead kept in the ring (`settle._settle_sd`, R_STL_*): a speed-up that must not change a number."""

from __future__ import annotations

import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.leakdetect.domain.kernels.settle import _settle_sd


@pytest.fixture(scope="module")
def ran(balance_case):
    """The balance case's 3 h (360 blocks: the 123-block ring wrapped twice), kernel only."""
    cfg, readings, _ = balance_case
    state = DetectorState.new(cfg)
    process_batch(state, *readings)
    return state


def test_a_kept_settling_lead_is_the_one_computed_afresh(ran) -> None:
    """`settle._settle_sd` keeps its weighted movement in the block's row (R_STL_*) once the ring reaches its four
    boxes back; read back it is the same number as computed afresh, for every block that has one, and one kept for
    another settling time is not read."""
    ring = ran.ring
    nr = ring.shape[1]
    checked = 0
    for s in range(ring.shape[0]):
        pos = int(ran.seg_i[s, L.GI_RING_POS])
        n = int(ran.seg_i[s, L.GI_N_BLOCKS])
        for age in range(nr):
            p = (pos - age) % nr
            nsb = ring[s, p, L.R_STL_NSB]
            if nsb == 0.0:
                continue
            settle = (0.3, nsb, ring[s, p, L.R_STL_NK], 0.0, 0.0, 0.0)
            if min(n, nr) - 1 - age < 4 * nsb:
                continue  # the ring no longer reaches the boxes: computed, not read
            fresh = ring.copy()
            fresh[s, p, L.R_STL_NSB] = 0.0
            kept = _settle_sd(ring, s, p, age, n, settle)
            assert kept == _settle_sd(fresh, s, p, age, n, settle)
            assert kept == 0.3 * ring[s, p, L.R_STL_M]
            other = (0.3, nsb + 1.0, settle[2], 0.0, 0.0, 0.0)
            assert _settle_sd(ring.copy(), s, p, age, n, other) == _settle_sd(fresh, s, p, age, n, other)
            checked += 1
    assert checked > 100

