"""`kernels.time_sorted`: process_batch's check that a batch is in time order (else it sorts it stably first)."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain.kernels import time_sorted


@pytest.mark.parametrize(
    ("times", "want"),
    [
        ([], True),
        ([5], True),
        ([1, 2, 2, 3], True),  # equal times (two tags read at once) are in order
        ([1, 2, 3, 2], False),  # a step back at the end
        ([2, 1, 3, 4], False),  # at the start
        ([-3, -2, 0, 7], True),
    ],
)
def test_time_sorted_is_numpys_check(times: list[int], want: bool) -> None:
    t = np.asarray(times, dtype=np.int64)
    assert time_sorted(t) is want
    assert want == (t.size < 2 or not bool(np.any(t[1:] < t[:-1])))
