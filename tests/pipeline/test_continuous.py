"""The loop's decisions, its monitors and its command line, without running the pipeline.

The loop running real pipelines is tested end to end in tests/e2e/test_continuous.py.
"""
import argparse
import io
import json
import os
import subprocess
import time
from datetime import datetime, timezone

import pytest

from pipeline import continuous
from pipeline.config import load_config
from runs import records
from tests.mlmd_fake import FakeTfxStore


def _loop(tmp_path, *argv, dataset=None):
    args = continuous.build_parser().parse_args(list(argv))
    config = load_config(None, {"output_dir": str(tmp_path / "out"), **({"dataset": str(dataset)} if dataset else {})})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    return continuous.Loop(config, fake.store, args, out=io.StringIO())


@pytest.mark.parametrize("argv, message", [
    (["--labels", "labels.csv"], "error: --labels needs --monitor-every"),
    (["--max-runs", "0"], "error: --max-runs must be at least 1"),
    (["--dataset", "/no/such/folder"], "error: dataset folder not found: /no/such/folder"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert continuous.main(argv + ["--output-dir", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().startswith(message)
    assert not (tmp_path / "out").exists()


def test_durations_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        continuous.build_parser().parse_args(["--every", "6 hours"])
    assert exit_info.value.code == 2
    assert "'6 hours' is not a duration" in capsys.readouterr().err


def test_new_data_comes_first_then_the_schedule_then_an_alert(tmp_path, monkeypatch):
    loop = _loop(tmp_path, "--every", "6h", "--retrain-on-drift")
    monkeypatch.setattr(loop, "new_data", lambda: None)
    assert loop.decide(now=0.0).trigger == "schedule"  # never ran: due
    loop.last_run = 0.0
    assert loop.decide(now=3600.0) is None
    loop.alert = continuous.Decision("drift", "drift found at 12:00: drift in island")
    decision = loop.decide(now=3600.0)
    assert (decision.trigger, decision.detail) == ("drift", "drift found at 12:00: drift in island")
    monkeypatch.setattr(loop, "new_data", lambda: continuous.Decision("new span", "span 4 ready", [4]))
    decision = loop.decide(now=3600.0)
    assert (decision.trigger, decision.spans) == ("drift", [4])  # the alert names the run; the span rides along
    assert decision.detail == "drift found at 12:00: drift in island; then new span: span 4 ready"


def test_an_alert_alone_does_not_retrain_unless_asked(tmp_path, monkeypatch):
    loop = _loop(tmp_path)
    monkeypatch.setattr(loop, "new_data", lambda: None)
    loop.alert = continuous.Decision("drift", "drift found")
    assert loop.decide(now=0.0) is None


def test_a_span_that_made_a_run_fail_waits_for_its_files_to_change(tmp_path, spanned):
    from pipeline import span_plan

    loop = _loop(tmp_path, "--settle", "0", dataset=spanned)
    assert loop.new_data().spans == [1, 2, 3]
    loop._failed[2] = span_plan.fingerprint(loop.config, 2)
    assert loop.new_data().spans == [1]  # spans are read in order: 3 waits behind 2
    assert "span 2: its files made the last run fail" in loop.out.getvalue()


def _monitor_answers(monkeypatch, loop, returncode, result=None):
    """Stands in for the monitor commands: exits `returncode` and, given a `result`, writes it where
    the layout says, with the keys monitoring/result_file.py documents (a copy, so no monitoring import)."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        if kwargs.get("shell"):
            return subprocess.CompletedProcess(command, 0)
        if result is not None:
            check = command[2].split(".")[-1]
            report = os.path.join(loop.config.layout.monitoring_dir(loop.config.model_name), f"{check}_1")
            written = {"check": check, "model": loop.config.model_name, "summary": "", "ok": returncode == 0,
                       "checked_at": datetime.now(timezone.utc).isoformat(),
                       "report_files": [report + ".json", report + ".md"], **result}
            path = loop.config.layout.monitoring_result(loop.config.model_name, check)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump(written, f)
        stderr = "error: only 3 logged rows\n" if returncode == 2 else ""
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(continuous.subprocess, "run", run)
    return calls


def _served(loop):
    os.makedirs(os.path.join(loop.config.serving_dir, "1"))
    return loop


def test_nothing_is_checked_before_a_model_is_served(tmp_path, monkeypatch):
    loop = _loop(tmp_path, "--monitor-every", "10m")
    calls = _monitor_answers(monkeypatch, loop, 1, {})
    loop.monitor()
    assert calls == [] and records.checks(loop.store) == []


def test_drift_is_recorded_runs_the_hook_and_becomes_the_next_trigger(tmp_path, monkeypatch):
    loop = _served(_loop(tmp_path, "--monitor-every", "10m", "--on-alert", "notify --team ml"))
    calls = _monitor_answers(monkeypatch, loop, 1, {"drifted_features": ["bill_length_mm"], "anomalous_features": [],
                                                    "tfdv": {"skew_threshold_exceeded": ["body_mass_g"]}})
    loop.monitor()
    report = os.path.join(loop.config.layout.monitoring_dir(loop.config.model_name), "drift_1.md")
    assert calls[0][1:3] == ["-m", "monitoring.drift"] and "--since" in calls[0]
    assert calls[1] == f"notify --team ml {report}"
    [check] = records.checks(loop.store)
    assert (check.check, check.verdict, check.detail, check.report) == (
        "drift", "alert", "drifted in bill_length_mm; TFDV skew threshold exceeded in body_mass_g", report)
    assert loop.alert.trigger == "drift"
    assert "next run's trigger: drift" in loop.out.getvalue()


def test_a_live_quality_alert_is_told_by_its_summary(tmp_path, monkeypatch):
    loop = _served(_loop(tmp_path, "--monitor-every", "10m", "--labels", "labels.csv"))
    _monitor_answers(monkeypatch, loop, 1, {"summary": "ALERT: version 1 (all) 0.5000 vs blessed 0.9000"})
    loop.monitor()
    assert [(c.check, c.detail) for c in records.checks(loop.store)] == [
        ("drift", "ALERT: version 1 (all) 0.5000 vs blessed 0.9000"),
        ("live quality", "ALERT: version 1 (all) 0.5000 vs blessed 0.9000")]
    assert loop.alert.trigger == "live quality"


def test_a_result_file_left_by_an_earlier_check_is_not_read(tmp_path, monkeypatch):
    loop = _served(_loop(tmp_path, "--monitor-every", "10m"))
    path = loop.config.layout.monitoring_result(loop.config.model_name, "drift")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump({"checked_at": "2020-01-01T00:00:00+00:00", "drifted_features": ["island"],
                   "report_files": ["old.json", "old.md"]}, f)
    _monitor_answers(monkeypatch, loop, 1)
    loop.monitor()
    [check] = records.checks(loop.store)
    assert (check.verdict, check.detail, check.report) == ("alert", "alert (see the report)", "")


def test_the_window_ends_at_the_millisecond_the_check_starts(tmp_path, monkeypatch):
    """Requests logged in the same second as the check are in its window (the log stamps milliseconds)."""
    from runs.durations import moment

    loop = _served(_loop(tmp_path, "--monitor-every", "10m"))
    calls = _monitor_answers(monkeypatch, loop, 1, {})
    before = datetime.now(timezone.utc)
    time.sleep(0.002)
    loop.monitor()
    command = calls[0]
    since, until = (moment(command[command.index(flag) + 1], None) for flag in ("--since", "--until"))
    assert datetime.fromisoformat(before.isoformat(timespec="milliseconds")) < until  # as the log stamps it
    assert (until - since).total_seconds() == 600


def test_a_check_that_could_not_run_is_recorded_and_changes_nothing(tmp_path, monkeypatch):
    loop = _served(_loop(tmp_path, "--monitor-every", "10m", "--labels", "labels.csv"))
    calls = _monitor_answers(monkeypatch, loop, 2)
    loop.monitor()
    assert [c[2] for c in calls] == ["monitoring.drift", "monitoring.live_quality"]
    assert [(c.check, c.verdict, c.detail) for c in records.checks(loop.store)] == [
        ("drift", "not checked", "error: only 3 logged rows"), ("live quality", "not checked", "error: only 3 logged rows")]
    assert loop.alert is None


def test_the_monitors_get_the_store_the_loop_uses(tmp_path):
    loop = _loop(tmp_path)
    command = loop.command("monitoring.drift")
    assert command[command.index("--output-dir") + 1] == str(tmp_path / "out")
    assert "--sqlite" not in command and "--mysql-host" not in command
    (tmp_path / "b").mkdir()
    elsewhere = _loop(tmp_path / "b")
    object.__setattr__(elsewhere.config, "metadata", argparse.Namespace(
        sqlite_path="/shared/m.sqlite", mysql_host=None))
    assert elsewhere.command("serving.smoke")[-2:] == ["--sqlite", "/shared/m.sqlite"]


def test_the_smoke_test_gets_the_model_by_its_kebab_case_flag(tmp_path):
    command = _loop(tmp_path).command("serving.smoke")
    assert command[command.index("--model-name") + 1] == "penguins"


def test_a_schedule_counts_from_the_newest_recorded_run_across_restarts(tmp_path, monkeypatch):
    import time

    loop = _loop(tmp_path, "--every", "6h")
    monkeypatch.setattr(loop, "new_data", lambda: None)
    assert continuous._newest_run_start(loop.store, loop.config.pipeline_name) is None
    FakeTfxStore(str(tmp_path / "m.sqlite"), loop.config.pipeline_name).run("2026-01-01T00:00:00")
    started = continuous._newest_run_start(loop.store, loop.config.pipeline_name)
    assert abs(started - time.time()) < 60
    loop.last_run = started
    assert loop.decide(now=started + 3600) is None
    assert loop.decide(now=started + 6 * 3600).trigger == "schedule"


def _tuning_loop(tmp_path, *argv, tuned_before: bool):
    loop = _loop(tmp_path, *argv)
    loop.config = load_config(None, {"output_dir": str(tmp_path / "out"), "tuning": {"enabled": True}})
    if tuned_before:
        fake = FakeTfxStore(str(tmp_path / "m.sqlite"), loop.config.pipeline_name)
        fake.execute(fake.run("r1"), "Tuner", outputs={"best_hyperparameters": fake.artifact("HyperParameters", "/h")})
    return loop


@pytest.mark.parametrize("argv, tuned_before, tunes", [
    ((), False, True),  # nothing tuned yet: the first run tunes
    ((), True, False),  # then the runs reuse the latest tuned hyperparameters
    (("--tune",), True, True),  # unless --tune asks for a search on every run
])
def test_spans_reuse_the_latest_tuned_hyperparameters_unless_tuning_is_asked_for(tmp_path, argv, tuned_before, tunes):
    loop = _tuning_loop(tmp_path, *argv, tuned_before=tuned_before)
    assert loop.tuning(loop.config).tuning.enabled == tunes
