"""The old module paths of the monitoring commands keep working: scripts written against them do not break."""
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("alias, command, flag", [("serving.monitor", "monitoring.drift", "--false-alarm-rate"),
                                                  ("serving.feedback", "monitoring.live_quality", "--min-labels")])
def test_old_module_path_runs_the_monitoring_command(alias, command, flag):
    done = subprocess.run([sys.executable, "-m", alias, "--help"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"python -m {command}" in done.stdout and flag in done.stdout
