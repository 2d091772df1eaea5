"""The drift calibration benchmark: its scenarios, its table and a tiny run of the real thing."""
from benchmarks import drift
from runs import exit_codes
from serving.contract import ServingFeatures


def test_scenarios_shift_each_feature_in_turn():
    features = ServingFeatures.from_file(drift.SCHEMA)
    _, baseline, pool = drift.bundled(features, None, seed=0)
    names = [s.name for s in drift.scenarios(baseline)]
    assert names[0] == drift.CLEAN
    assert "bill_length_mm +1 sd" in names and "body_mass_g +0.5 sd" in names
    assert "island -> Torgersen +20 pts" in names  # the rarest island in the bundled data
    assert len(names) == 1 + 4 * len(drift.SHIFTS_SD) + 2
    shifted = next(s for s in drift.scenarios(baseline) if s.name == "bill_length_mm +2 sd")
    rows = [r for r in pool if r["bill_length_mm"] is not None][:50]
    moved = shifted.apply(rows, 0)
    assert all(b["bill_length_mm"] - a["bill_length_mm"] > 8 for a, b in zip(rows, moved))  # 2 sd ~ 11 mm


def test_a_small_run_prints_the_table(capsys, tmp_path):
    out_json = tmp_path / "drift.json"
    assert drift.main(["--datasets", "bundled", "--sizes", "100", "--windows", "2", "--clean-windows", "3",
                       "--json", str(out_json)]) == exit_codes.OK
    out = capsys.readouterr().out
    assert "| rows | scenario | windows | not enough rows | flagged (tests) |" in out
    assert "| 100 | clean | 3 | 0 |" in out and "| 100 | bill_depth_mm +2 sd | 2 | 0 | 100.0% | 100.0% |" in out
    assert "| clean: false alarms | " in out and "| numeric +2 sd, worst feature | 100.0% / 100.0% |" in out
    assert drift.main(["--from-json", str(out_json)]) == exit_codes.OK
    again = capsys.readouterr().out
    assert [line for line in again.splitlines() if line.startswith("|")] == \
        [line for line in out.splitlines() if line.startswith("|")]


def test_bad_counts_are_bad_input(capsys):
    assert drift.main(["--windows", "0"]) == exit_codes.BAD_INPUT
    assert "must be >= 1" in capsys.readouterr().err
    assert drift.main(["--datasets", "bundled", "--output-dir", "/nonexistent"]) == exit_codes.BAD_INPUT
