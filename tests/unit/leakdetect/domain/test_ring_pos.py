"""`common._ring_pos` stands for Python's `i % nr` on every ring position the tests read: it must be that, exactly."""

from __future__ import annotations

from services.leakdetect.domain.kernels.common import _ring_pos


def test_ring_pos_is_pythons_modulo_within_and_beyond_one_ring_length() -> None:
    for nr in (1, 2, 7, 123):
        for i in range(-3 * nr - 2, 3 * nr + 3):
            assert _ring_pos(i, nr) == i % nr, (i, nr)
    assert _ring_pos(-(2**62), 123) == -(2**62) % 123
    assert _ring_pos(2**62, 123) == 2**62 % 123
