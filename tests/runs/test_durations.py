"""Durations on the command line."""
from datetime import datetime, timezone

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


NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("90m", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
    ("3600", datetime(2024, 5, 1, 11, tzinfo=timezone.utc)),  # a bare number is seconds, as everywhere
    ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=timezone.utc)),  # no zone: UTC
    ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=timezone.utc)),
    ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=timezone.utc)),
    (None, None),
])
def test_a_moment_is_iso_8601_or_a_duration_back_from_now(text, expected):
    assert durations.moment(text, NOW) == expected


def test_a_moment_that_is_neither_is_refused_with_both_forms_named():
    with pytest.raises(ValueError, match="ISO 8601.*30m"):
        durations.moment("yesterday", NOW)
