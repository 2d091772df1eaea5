import pytest

from serving.synthetic_traffic import parse_shifts, push_toward, sample_rows, shift_rows

ROWS = [{"a": 1, "b": 2.5, "c": "x"}, {"a": None, "b": 1.0, "c": "y"}]


def test_sampling_is_seeded_and_copies():
    first, again = sample_rows(ROWS, 50, seed=3), sample_rows(ROWS, 50, seed=3)
    assert first == again and len(first) == 50
    first[0]["a"] = 99
    assert ROWS[0]["a"] == 1


def test_sampling_from_nothing_fails():
    with pytest.raises(ValueError):
        sample_rows([], 3)


def test_shift_keeps_types_and_missing():
    shifted = shift_rows(ROWS, {"a": 2.6, "b": -1})
    assert shifted == [{"a": 4, "b": 1.5, "c": "x"}, {"a": None, "b": 0.0, "c": "y"}]
    assert isinstance(shifted[0]["a"], int)


@pytest.mark.parametrize("shifts, message", [({"c": 1}, "non-numeric"), ({"zz": 1}, "unknown feature")])
def test_shift_rejects_bad_features(shifts, message):
    with pytest.raises(ValueError, match=message):
        shift_rows(ROWS, shifts)


def test_parse_shifts():
    assert parse_shifts(["a=1.5", "b=-2"]) == {"a": 1.5, "b": -2.0}
    with pytest.raises(ValueError, match="FEATURE=NUMBER"):
        parse_shifts(["a:1"])


def test_push_toward_moves_a_share_by_the_points_asked():
    rows = [{"island": "Biscoe"}] * 500 + [{"island": "Dream"}] * 350 + [{"island": "Torgersen"}] * 150
    pushed = push_toward(rows, "island", "Torgersen", 0.2, seed=1)
    share = sum(r["island"] == "Torgersen" for r in pushed) / len(pushed)
    assert abs(share - 0.35) < 0.03
    assert rows[0] == {"island": "Biscoe"}  # the input rows are not changed
    with pytest.raises(ValueError, match="cannot gain"):
        push_toward(rows, "island", "Biscoe", 0.6)
