"""Continuous training end to end: spans arriving one at a time, the loop, its triggers and its lock.

The session fixture `ct_run` (tests/conftest.py) added three spans of the bundled penguins
one by one and ran `python -m pipeline.continuous --once` after each, then once more.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pipeline.splits import DEFAULT as DEFAULT_SPLITS
from runs import history, metadata, records, spans
from runs.store import MetadataConfig, open_store
from tests.conftest import CT_SPANS, CT_TRAIN_STEPS, PENGUINS, REPO_ROOT, run_continuous, write_span

# The session fixture ct_run makes three real runs: on a busy 2-core machine that alone can take 20 min.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]


def _store(output):
    return open_store(MetadataConfig.for_output(str(output)), readonly=True)


def _spans_read(store):
    """The span of every CsvExampleGen execution that read files (not served from its cache)."""
    from ml_metadata.proto import metadata_store_pb2

    return sorted(int(metadata.custom_property(e, "span")) for e in store.get_executions()
                  if spans.FINGERPRINT in e.custom_properties
                  and e.last_known_state == metadata_store_pb2.Execution.COMPLETE)


def test_each_span_is_read_once_and_the_runs_train_on_the_growing_window(ct_run):
    store = _store(ct_run.output)
    ran = _spans_read(store)
    assert ran == list(range(1, CT_SPANS + 1))  # each span read by ExampleGen exactly once
    ingested = spans.ingested_spans(store)
    assert sorted(ingested) == list(range(1, CT_SPANS + 1)) and all(s.valid for s in ingested.values())
    assert all(s.splits == DEFAULT_SPLITS for s in ingested.values())  # every span split alike, none read again
    rows = list(reversed(history.history(store)))  # oldest first
    assert all(r.evaluated_on == ["test"] for r in rows)
    assert 0 < rows[0].evaluated_examples < rows[-1].evaluated_examples  # the window's test rows grow with it
    assert [r.trained_spans for r in rows] == [[1], [1, 2], [1, 2, 3]]
    assert [r.ingested_spans for r in rows] == [[1], [2], [3]]
    assert [r.trigger for r in rows] == ["new span"] * CT_SPANS
    assert all(r.outcome == "pushed" and r.pushed_version for r in rows)
    for result, span in zip(ct_run.results, range(1, CT_SPANS + 1)):
        assert f"run: new span (span {span} ready)" in result.stdout
        assert f"Spans: trained on {'1' if span == 1 else f'1-{span}'}" in result.stdout


def test_once_with_nothing_new_exits_0_and_trains_nothing(ct_run):
    last = ct_run.results[-1]
    assert last.returncode == 0
    assert "nothing new" in last.stdout and "run:" not in last.stdout
    assert len(metadata.pipeline_runs(_store(ct_run.output))) == CT_SPANS


def _copy(ct_run, tmp_path):
    """A private copy of the dataset and the output, so a test can add spans and runs."""
    dataset, output = tmp_path / "dataset", tmp_path / "output"
    shutil.copytree(ct_run.dataset, dataset)
    shutil.copytree(ct_run.output, output)
    return dataset, output


def _drifted_traffic(output, rows: int = 600):
    """Logged requests whose bills and flippers are far longer than any penguin trained on (more rows than
    the drift tests need to judge a one-sd shift on the bundled model, 86)."""
    from serving.contract import schema_path
    from serving.raw_features import RawFeatures
    from serving.server.request_log import LoggedRequest, RequestLog
    from serving.synthetic_traffic import sample_rows, shift_rows

    base = os.path.join(output, "serving_model", "penguins")
    version = max(int(v) for v in os.listdir(base))
    features = RawFeatures.from_file(schema_path(os.path.join(base, str(version))))
    sample = sample_rows(features.read_csv(os.path.join(PENGUINS, "penguins.csv")), rows)
    log = RequestLog(os.path.join(output, "request_log", "penguins"))
    for row in shift_rows(sample, {"bill_length_mm": 12.0, "flipper_length_mm": 35}):
        log.submit(LoggedRequest("penguins", version, "serving_default", "rest", 1.0, {}, rows=[row]))
    log.flush()
    log.close()


def _wait_for(path, text, process, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            if text in f.read():
                return
        assert process.poll() is None, f"the loop exited early:\n{open(path).read()}"
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not printed within {timeout} s:\n{open(path).read()}")


def test_the_loop_picks_up_new_spans_and_stops_cleanly_on_sigterm(ct_run, tmp_path):
    dataset, output = _copy(ct_run, tmp_path)
    log_path = tmp_path / "loop.log"
    with open(log_path, "w") as log:
        loop = subprocess.Popen(
            [sys.executable, "-m", "pipeline.continuous", "--dataset", str(dataset), "--output-dir", str(output),
             "--train-steps", str(CT_TRAIN_STEPS), "--poll", "1s", "--settle", "1s", "--no-smoke-test"],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(log_path, "continuous training (watching)", loop, 300)
        # A second run on the same folder is refused while the loop holds it, in one line.
        second = subprocess.run([sys.executable, "local_runner.py", "--dataset", str(dataset),
                                 "--output-dir", str(output)], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=300)
        assert second.returncode == 2
        assert second.stderr.strip().startswith(f"error: another run is using {output}: pid {loop.pid} ")
        assert "pipeline.continuous" in second.stderr
        write_span(dataset, CT_SPANS + 1, ct_run.spans[CT_SPANS], ct_run.header)
        _wait_for(log_path, f"run: new span (span {CT_SPANS + 1} ready)", loop, 300)
        loop.send_signal(signal.SIGTERM)  # mid-run: the run finishes, then the loop stops
        assert loop.wait(timeout=900) == 0
    finally:
        if loop.poll() is None:
            loop.kill()
    printed = open(log_path).read()
    assert "SIGTERM: stopping after the current run" in printed
    assert "run finished: exit code 0" in printed and "stopped cleanly after 1 runs" in printed
    store = _store(output)
    newest = history.history(store)[0]
    assert newest.trained_spans == [1, 2, 3, 4] and newest.ingested_spans == [4] and newest.outcome == "pushed"
    assert not open(output / "run.lock").read(), "the lock is released"


def test_drift_is_recorded_alerts_and_becomes_the_next_trigger(ct_run, tmp_path):
    dataset, output = _copy(ct_run, tmp_path)
    _drifted_traffic(output)
    hook_out = tmp_path / "hook.txt"
    write_span(dataset, CT_SPANS + 1, ct_run.spans[CT_SPANS], ct_run.header)
    # One pass: the monitor runs first, then the new span trains; the hook gets the report's path.
    result = run_continuous(dataset, output, "--monitor-every", "1h", "--max-runs", "1",
                            "--on-alert", f"sh -c 'echo $ALERT_KIND $0 >{hook_out}'")
    assert result.returncode == 0, result.stdout + result.stderr
    store = _store(output)
    drift = [c for c in records.checks(store) if c.check == "drift"]
    assert drift and drift[0].verdict == "alert", result.stdout
    assert "bill_length_mm" in drift[0].detail and os.path.exists(drift[0].report)
    assert hook_out.read_text().split() == ["drift", drift[0].report]
    newest = history.history(store)[0]
    assert newest.trigger == "drift" and "new span" in newest.trigger_detail
    assert newest.ingested_spans == [CT_SPANS + 1]


def test_a_killed_run_leaves_a_lock_the_next_run_takes_over(ct_run, tmp_path):
    dataset, output = _copy(ct_run, tmp_path)
    log_path = tmp_path / "loop.log"
    with open(log_path, "w") as log:
        loop = subprocess.Popen([sys.executable, "-m", "pipeline.continuous", "--dataset", str(dataset),
                                 "--output-dir", str(output), "--poll", "1s"],
                                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(log_path, "continuous training (watching)", loop, 300)
    finally:
        loop.kill()  # SIGKILL: no chance to release anything
        loop.wait()
    assert str(loop.pid) in open(output / "run.lock").read()
    result = run_continuous(dataset, output, "--once")
    assert result.returncode == 0, result.stderr
    assert f"took over the lock of pid {loop.pid} " in result.stdout and "no longer running" in result.stdout
    assert "nothing new" in result.stdout
