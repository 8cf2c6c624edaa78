"""The soak's rule for flat memory (tests/audio/soak.py, Report.memory_flat), on made-up samples:
it must pass the shape that failed CI without anything growing, and fail a real leak."""

from __future__ import annotations

from soak import FLAT_MB, Report

MB = 1024


def _run(resting_mb, working_mb, warm_turns: int = 4) -> Report:
    """A report whose turn `n` rests at resting_mb[n], and whose once-a-second samples are
    working_mb, all taken after the first conversation."""
    report = Report(warm_turns=warm_turns)
    report.resting = [(turns, int(mb * MB)) for turns, mb in enumerate(resting_mb)]
    report.memory = [(float(n), int(mb * MB), warm_turns) for n, mb in enumerate(working_mb)]
    return report


def test_an_idle_first_quarter_and_a_talkative_last_one_is_not_growth():
    # one CI run: the microphone out for most of the first quarter (idle, small), the last quarter
    # all speaking; by time the working level rose 56 MB, yet it ended below where it began
    resting = [390.0] * 20
    working = [400.0] * 40 + [460.0] * 5 + [400.0, 515.0] * 60 + [515.0] * 35
    report = _run(resting, working)
    figures = report.memory_mb()
    assert figures["working_growth"] > FLAT_MB
    assert figures["resting_growth"] == 0
    assert report.memory_flat


def test_a_dip_while_the_voice_is_out_is_not_growth():
    resting = [390.0] * 6 + [270.0, 270.0] + [390.0] * 12  # espeak-ng speaks, hibari not loaded
    assert _run(resting, [480.0] * 200).memory_flat


def test_a_few_megabytes_kept_at_every_turn_is_a_leak():
    resting = [390.0 + 3.0 * turn for turn in range(40)]
    report = _run(resting, [480.0 + 3.0 * (n // 5) for n in range(200)])
    assert report.memory_mb()["resting_growth"] > FLAT_MB
    assert not report.memory_flat


def test_the_first_conversation_is_left_out():
    resting = [250.0, 300.0, 350.0, 380.0] + [390.0] * 16  # loading, warming up
    assert _run(resting, [480.0] * 200).memory_mb()["resting_first_quarter"] == 390.0


def test_no_samples_is_never_flat():
    assert not Report().memory_flat
