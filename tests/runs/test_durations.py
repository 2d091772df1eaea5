"""Durations on the command line."""
import pytest

from runs import durations


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("10m", 600), ("6h", 21600), ("1d", 86400), ("1.5h", 5400),
                                           ("45", 45)])
def test_durations_read_as_people_write_them(text, seconds):
    assert durations.seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "6 hours", "h", "-5m", "1w"])
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError, match="is not a duration"):
        durations.seconds(text)


def test_written_back_in_the_largest_whole_unit():
    assert [durations.text(s) for s in (21600, 5400, 90, 86400)] == ["6h", "90m", "90s", "1d"]
