"""Runs killed at each stage, then a run that completes: never a partial version in the serving folder.

One output folder goes through, in order: a run SIGKILLed inside CsvExampleGen, then inside
Transform, then inside the Trainer (each found by watching ML Metadata for the component's running
execution), a run stopped by SIGTERM inside the Evaluator, a run SIGKILLed inside the Pusher's copy
(tests/e2e/killed_push.py), and a run that completes. A watcher lists the serving folder every
few milliseconds throughout and records any version folder it ever saw incomplete.
"""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pipeline import push
from pipeline.config import load_config
from runs import inspect, metadata
from runs.store import StoreError, open_store
from serving.contract import SAVED_MODEL_FILE, schema_path
from serving.server.versions import list_versions
from tests.conftest import PENGUINS, REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]  # one fixture runs several pipelines

RUN_TIMEOUT_S = 900
FLAGS = ["--train-steps", "50", "--eval-steps", "5"]
# (component, signal)
STAGES = (("CsvExampleGen", signal.SIGKILL), ("Transform", signal.SIGKILL), ("Trainer", signal.SIGKILL),
          ("Evaluator", signal.SIGTERM))


def _files(version_dir):
    return {os.path.relpath(os.path.join(folder, name), version_dir)
            for folder, _, names in os.walk(version_dir) for name in names}


def _complete(files) -> bool:
    return {SAVED_MODEL_FILE, "variables/variables.index", os.path.relpath(schema_path(""), "")} <= files


class ServingWatcher(threading.Thread):
    """Lists the serving folder continuously; remembers each version's files when first seen."""

    def __init__(self, serving_dir):
        super().__init__(daemon=True)
        self.serving_dir = serving_dir
        self.first_seen = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for version in list_versions(self.serving_dir):
                if version not in self.first_seen:
                    self.first_seen[version] = _files(os.path.join(self.serving_dir, str(version)))
            time.sleep(0.005)


def _running_execution(config, node_id, after_id):
    """Whether the node has an execution newer than after_id that is still running (store busy: no)."""
    try:
        store = open_store(config.metadata, readonly=True)
        execution = metadata.latest_node_execution(store, config.pipeline_name, node_id, after_id)
    except (StoreError, RuntimeError):
        return False
    return execution is not None and execution.state == "running"


def _start(argv, output_dir):
    return subprocess.Popen([sys.executable, *argv, "--output-dir", output_dir, *FLAGS],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop_inside(config, node_id, sig):
    """Starts a run and sends it sig once node_id is executing; returns (returncode, stderr)."""
    after_id = metadata.max_execution_id(open_store(config.metadata)) if os.path.exists(
        config.metadata.sqlite_path) else 0
    process = _start(["local_runner.py", "--no-smoke-test"], config.output_dir)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not _running_execution(config, node_id, after_id):
        assert process.poll() is None, f"the run ended before {node_id} ran: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"{node_id} never started"
        time.sleep(0.2)
    time.sleep(0.5)  # well inside the component: it has registered, and its executor is working
    process.send_signal(sig)
    _, err = process.communicate(timeout=RUN_TIMEOUT_S)
    return process.returncode, err


def _inspect_latest_run(config):
    """What `python -m runs.inspect runs --json --limit 1` prints, read in this process."""
    [run] = inspect.runs_data(open_store(config.metadata, readonly=True), config.output_dir, limit=1)
    return run


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The whole sequence, run once; each test reads what it left."""
    config = load_config(None, {"dataset": PENGUINS, "output_dir": str(tmp_path_factory.mktemp("killed"))})
    watcher = ServingWatcher(config.serving_dir)
    watcher.start()
    result = {"config": config, "stopped": {}}
    started = time.monotonic()
    try:
        for node_id, sig in STAGES:
            code, err = _stop_inside(config, node_id, sig)
            result["stopped"][node_id] = (code, err, _inspect_latest_run(config),
                                          list_versions(config.serving_dir))
        process = _start(["-m", "tests.e2e.killed_push", "--no-smoke-test"], config.output_dir)
        _, err = process.communicate(timeout=RUN_TIMEOUT_S)
        result["push_killed"] = (process.returncode, _inspect_latest_run(config),
                                 sorted(os.listdir(config.serving_dir)))
        process = _start(["local_runner.py"], config.output_dir)
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
        result["completed"] = (process.returncode, out + err, _inspect_latest_run(config),
                               sorted(os.listdir(config.serving_dir)))
    finally:
        watcher.stop.set()
        watcher.join()
    result["watcher"] = watcher
    print(f"\nkilled-runs sequence took {time.monotonic() - started:.0f} s")
    return result


@pytest.mark.parametrize("node_id, sig", STAGES)
def test_a_stopped_run_is_interrupted_at_its_stage_not_skipped(history, node_id, sig):
    code, err, run, versions = history["stopped"][node_id]
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:  # SIGTERM: the runner stops cleanly, says so in one line, and exits 130
        assert code == 130, err
        assert err.strip() == (f"interrupted while {node_id} was running: the run is recorded as interrupted; "
                               "run again to finish it (what completed is reused from the cache)")
    states = {c["component"]: c["state"] for c in run["components"]}
    assert run["status"] == "interrupted"
    assert states[node_id] == "interrupted"
    assert "skipped" not in states.values()
    assert versions == []  # nothing was pushed


def test_a_push_killed_halfway_leaves_only_an_invisible_staging_folder(history):
    code, run, listing = history["push_killed"]
    assert code == -signal.SIGKILL
    assert {c["component"]: c["state"] for c in run["components"]}["Pusher"] == "interrupted"
    [staging] = listing  # the half-copied model, and no version folder
    assert staging.startswith(push.STAGING_PREFIX)


def test_the_next_run_completes_serves_and_clears_the_leftover(history):
    code, output, run, listing = history["completed"]
    assert code == 0, output
    assert run["status"] == "finished"
    assert {c["state"] for c in run["components"]} <= {"complete", "cached"}
    [version] = listing  # the staging folder the killed push left is gone
    assert version.isdigit()
    assert f"Smoke test: version {version} serves over REST and gRPC" in output


def test_no_partial_version_was_ever_visible(history):
    watcher = history["watcher"]
    serving_dir = history["config"].serving_dir
    assert list(watcher.first_seen) == list_versions(serving_dir)
    for version, files in watcher.first_seen.items():
        assert _complete(files) and files == _files(os.path.join(serving_dir, str(version))), version
