"""--beam-mode portable, end to end on the bundled data: a local job service and SDK worker pool run
every Beam job, the run completes, and the pushed model serves (the run's own smoke test)."""
import subprocess
import sys

import pytest

from pipeline.config import load_config
from runs import metadata
from runs.store import open_store
from tests.conftest import PENGUINS, REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]  # the fixture runs the pipeline (slow when loaded)

BEAM_COMPONENTS = ("CsvExampleGen", "StatisticsGen", "Transform", "Evaluator")


@pytest.fixture(scope="module")
def portable_run(tmp_path_factory):
    config = load_config(None, {"dataset": PENGUINS, "output_dir": str(tmp_path_factory.mktemp("portable"))})
    process = subprocess.Popen(
        [sys.executable, "local_runner.py", "--output-dir", config.output_dir, "--beam-mode", "portable",
         "--beam-workers", "1", "--train-steps", "50", "--eval-steps", "5"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate(timeout=1800)
    return config, process, output


def test_the_run_completes_and_the_pushed_model_serves(portable_run):
    _, process, output = portable_run
    assert process.returncode == 0, output
    assert "Beam job service on localhost:" in output
    assert "serves over REST and gRPC" in output


def test_every_component_completed_with_the_portable_runner_recorded(portable_run):
    config, _, _ = portable_run
    store = open_store(config.metadata, readonly=True)
    [run_id] = metadata.pipeline_runs(store, config.pipeline_name)
    overview = metadata.run_overview(store, run_id)
    assert overview.status == metadata.FINISHED
    states = {e.node_id: e.state for e in overview.executions}
    assert set(BEAM_COMPONENTS) <= set(states) and set(states.values()) == {"complete"}
    assert overview.skipped == [] and overview.not_run == []
    assert "--runner=PortableRunner" in overview.beam_args and "--environment_type=EXTERNAL" in overview.beam_args


def test_the_services_are_gone_with_the_run(portable_run):
    _, process, _ = portable_run
    listing = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True, check=True).stdout
    assert not [line for line in listing.splitlines()
                if "-m pipeline.portable" in line and line.endswith(f" {process.pid}")]
