"""Progress lines from TFX's component log messages and what MLMD recorded for them."""
import io
import logging

from pipeline.progress import ProgressHandler, RunProgress
from tests.mlmd_fake import CACHED, COMPLETE, FakeTfxStore


def test_each_component_gets_one_line_with_its_real_state(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    old_run = fake.run("old")
    fake.execute(old_run, "Trainer")  # from an earlier run: must not count for this one
    out = io.StringIO()
    progress = RunProgress(store=fake.store, pipeline_name=fake.pipeline_name,
                           after_execution_id=1, out=out)
    logger = logging.getLogger("test_progress")
    logger.setLevel(logging.INFO)
    logger.addHandler(ProgressHandler(progress))
    run = fake.run("new")

    logger.info("Component %s is running.", "CsvExampleGen")
    fake.execute(run, "CsvExampleGen", state=CACHED)
    logger.info("Component %s is finished.", "CsvExampleGen")
    logger.info("Component %s is running.", "Transform")
    fake.execute(run, "Transform", state=COMPLETE)
    logger.info("Component %s is finished.", "Transform")
    logger.info("Component %s is running.", "Trainer")  # gated off: no new execution
    logger.info("Component %s is finished.", "Trainer")
    logger.info("Unrelated TFX chatter")

    assert [(r.node_id, r.state) for r in progress.results] == [
        ("CsvExampleGen", "cached"), ("Transform", "ran"), ("Trainer", "skipped")]
    assert progress.counts() == {"cached": 1, "ran": 1, "skipped": 1}
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[2].split()[:2] == ["Trainer", "skipped"]


def test_a_component_that_raises_is_reported_failed(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    progress = RunProgress(store=fake.store, pipeline_name=fake.pipeline_name,
                           after_execution_id=0, out=io.StringIO())
    progress.started("Transform")
    assert progress.stopped_component() == "Transform"
    assert progress.results[-1].state == "FAILED"
    assert progress.stopped_component() is None  # nothing is running any more
