"""runs.metadata: how a run ended, from the runner's marks, and each component's state in it."""
import os
import socket

import pytest

from runs import metadata
from tests.mlmd_fake import FAILED, RUNNING, FakeTfxStore, dead_pid

NODES = ("CsvExampleGen", "ExampleValidator", "Transform", "Trainer", "Pusher")
HERE = socket.gethostname()


@pytest.fixture
def fake(tmp_path):
    """A store that knows every node: one finished run executed all of them."""
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    first = fake.run("run-1")
    for node in NODES:
        fake.execute(first, node)
    metadata.mark_run(fake.store, "run-1", **{metadata.RUN_OUTCOME: metadata.FINISHED})
    return fake


def _stopped_in_transform(fake, run_id="run-2", **marks):
    run = fake.run(run_id)
    fake.execute(run, "CsvExampleGen")
    fake.execute(run, "ExampleValidator")
    fake.execute(run, "Transform", state=RUNNING)
    if marks:
        metadata.mark_run(fake.store, run_id, **marks)
    return metadata.run_overview(fake.store, run_id)


def _states(overview):
    return {c.node_id: c.state for c in overview.component_states()}


def test_gated_run_that_finished_shows_skipped(fake):
    run = fake.run("run-2")
    fake.execute(run, "CsvExampleGen")
    fake.execute(run, "ExampleValidator")
    metadata.mark_run(fake.store, "run-2", **{metadata.RUN_OUTCOME: metadata.FINISHED})
    overview = metadata.run_overview(fake.store, "run-2")
    assert overview.status == metadata.FINISHED
    assert overview.skipped == ["Transform", "Trainer", "Pusher"] and overview.not_run == []
    assert _states(overview)["Trainer"] == "skipped"


def test_run_whose_process_died_is_interrupted(fake):
    overview = _stopped_in_transform(fake, **{metadata.RUNNER_HOST: HERE, metadata.RUNNER_PID: dead_pid()})
    assert overview.status == metadata.INTERRUPTED
    assert _states(overview) == {"CsvExampleGen": "complete", "ExampleValidator": "complete",
                                 "Transform": "interrupted", "Trainer": "not run", "Pusher": "not run"}
    assert overview.skipped == []
    assert [c.seconds for c in overview.component_states() if c.state != "complete"] == [None] * 3


def test_run_stopped_by_a_signal_is_interrupted(fake):
    overview = _stopped_in_transform(fake, **{metadata.RUNNER_HOST: HERE, metadata.RUNNER_PID: os.getpid(),
                                              metadata.RUN_OUTCOME: metadata.INTERRUPTED})
    assert overview.status == metadata.INTERRUPTED and _states(overview)["Transform"] == "interrupted"


def test_run_whose_process_lives_is_running(fake):
    overview = _stopped_in_transform(fake, **{metadata.RUNNER_HOST: HERE, metadata.RUNNER_PID: os.getpid()})
    assert overview.status == metadata.RUNNING
    assert _states(overview)["Transform"] == "running" and _states(overview)["Pusher"] == "pending"


def test_run_of_another_machine_cannot_be_called_interrupted(fake):
    overview = _stopped_in_transform(fake, **{metadata.RUNNER_HOST: HERE + "-elsewhere",
                                              metadata.RUNNER_PID: dead_pid()})
    assert overview.status == metadata.UNFINISHED and _states(overview)["Transform"] == "running"


def test_failed_run_does_not_call_what_follows_skipped(fake):
    run = fake.run("run-2")
    fake.execute(run, "CsvExampleGen", state=FAILED)
    metadata.mark_run(fake.store, "run-2", **{metadata.RUNNER_HOST: HERE, metadata.RUNNER_PID: os.getpid(),
                                              metadata.RUN_OUTCOME: metadata.FAILED})
    states = _states(metadata.run_overview(fake.store, "run-2"))
    assert states["CsvExampleGen"] == "failed" and states["Pusher"] == "not run"


def test_unmarked_run_reads_as_before(fake):
    """Runs recorded before the runner marked them (or by another runner): no guess either way."""
    overview = _stopped_in_transform(fake)
    assert overview.status is None
    assert _states(overview)["Transform"] == "running" and _states(overview)["Pusher"] == "skipped"


def test_process_alive_only_answers_for_this_machine():
    assert metadata.process_alive(HERE, os.getpid()) is True
    assert metadata.process_alive(HERE, dead_pid()) is False
    assert metadata.process_alive(HERE + "-elsewhere", os.getpid()) is None
