"""`make ct-demo` end to end, bounded in time: three spans, traffic, drift, three runs, the history."""
import subprocess
import sys

import pytest

from runs import history, records
from runs.store import MetadataConfig, open_store
from tests.conftest import REPO_ROOT

# A few minutes on an idle 2-core machine; a busy one needs several times that.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]


def test_the_demo_runs_the_loop_through_three_spans_and_prints_the_history(tmp_path):
    workdir = tmp_path / "ct-demo"
    result = subprocess.run([sys.executable, "continuous_demo.py", "--workdir", str(workdir), "--rows", "120",
                             "--train-steps", "60", "--monitor-every", "15"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for decision in ("run: new span (span 1 ready)", "run: new span (span 2 ready)", ": alert:",
                     "next run's trigger: drift", "run: drift (drift found"):
        assert decision in out, decision
    assert ", 0 failed, now serving version" in out  # no request failed across three pushes
    store = open_store(MetadataConfig.for_output(str(workdir / "output")), readonly=True)
    rows = list(reversed(history.history(store)))
    assert [r.trigger for r in rows] == ["new span", "new span", "drift"]
    assert [r.trained_spans for r in rows] == [[1], [1, 2], [2, 3]]  # the demo's window is 2 spans
    assert rows[0].outcome == "pushed" and all(r.outcome in ("pushed", "not blessed") for r in rows)
    assert any(c.verdict == "alert" for c in records.checks(store))
    assert "history page:" in out and (workdir / "output" / "reports" / "history.html").exists()
    assert "drift" in out.split("demo | history:")[1]  # the history table names the drift-triggered run
