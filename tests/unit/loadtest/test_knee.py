"""The knee of a ramp: the highest offered rate of the unbroken run of passing steps from the first."""

from loadtest.knee import Step, knee
from loadtest.profiles import PROFILES


def _steps(*oks: bool) -> list[Step]:
    return [Step(10_000.0 * (i + 1), 10_000.0 * (i + 1), ok) for i, ok in enumerate(oks)]


def test_no_steps_or_a_first_step_broken_has_no_knee() -> None:
    assert knee([]) is None
    assert knee(_steps(False, True)) is None


def test_the_knee_is_the_last_step_before_the_first_break() -> None:
    assert knee(_steps(True, True, True, False)) == 30_000.0
    assert knee(_steps(True, True, True)) == 30_000.0


def test_a_pass_after_a_break_does_not_move_the_knee() -> None:
    assert knee(_steps(True, False, True, True)) == 10_000.0


def test_the_ramp_steps_up_and_every_profile_is_bounded() -> None:
    ramp = PROFILES["ramp"]
    assert [ramp.rate_at(t) for t in (0, 19.9, 20, 45)] == [5_000, 5_000, 10_000, 15_000]
    assert ramp.rate_at(ramp.duration_s) is None
    assert ramp.duration_s == ramp.ramp_max_steps * ramp.ramp_step_s
    shorter = ramp.with_overrides(5_000, 60)
    assert shorter.ramp_max_steps == 3 and shorter.rate_at(0) == 5_000 and shorter.rate_at(60) is None
    for profile in PROFILES.values():
        assert profile.rate_at(profile.duration_s) is None
        assert profile.duration_s <= 4 * 3600
    # The smoke check fits in a minute: load, the leak's last wait and ghz.
    smoke = PROFILES["smoke"]
    assert smoke.duration_s + smoke.leak_wait_s + smoke.ghz_s <= 55
