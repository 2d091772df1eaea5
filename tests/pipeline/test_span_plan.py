"""Which spans a run ingests, and when a span folder is ready to be read."""
import os
import time

from pipeline import span_plan
from pipeline.config import load_config
from tests.mlmd_fake import FakeTfxStore
from tests.runs.span_records import ingest


def test_pending_spans_are_those_not_ingested_changed_or_never_validated(spanned, tmp_path):
    config = load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path / "out")})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    assert span_plan.pending_spans(config, fake.store) == [1, 2, 3]
    run = fake.run("r1")
    ingest(fake, run, 1, fingerprint=span_plan.fingerprint(config, 1))
    ingest(fake, run, 2, fingerprint=span_plan.fingerprint(config, 2), valid=False)  # ingested; bad data stays out
    ingest(fake, run, 3, fingerprint=span_plan.fingerprint(config, 3), valid=None)  # stopped before validation
    assert span_plan.pending_spans(config, fake.store) == [3]
    with open(spanned / "span-1" / "part.csv", "a") as f:  # a corrected span is read again
        f.write("Adelie,Dream,40.0,18.0,190,3900,male,2009\n")
    assert span_plan.pending_spans(config, fake.store) == [1, 3]
    assert span_plan.pending_spans(config, fake.store, candidates=[3]) == [3]


def test_a_span_split_otherwise_than_dataset_yaml_says_is_ingested_again(spanned, tmp_path):
    """Spans ingested before the test split existed (train 3 : eval 1) are split again, as new spans are."""
    config = load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path / "out")})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    run = fake.run("r1")
    ingest(fake, run, 1, fingerprint=span_plan.fingerprint(config, 1), splits=(("train", 3), ("eval", 1)))
    ingest(fake, run, 2, fingerprint=span_plan.fingerprint(config, 2))
    ingest(fake, run, 3, fingerprint=span_plan.fingerprint(config, 3),
           splits=(("train", 80), ("eval", 10), ("test", 10)))
    assert span_plan.pending_spans(config, fake.store) == [1, 3]


def test_a_folder_without_spans_is_span_0_read_again_when_its_files_change(tmp_path):
    config = load_config(None, {"output_dir": str(tmp_path / "out")})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    assert span_plan.pending_spans(config, fake.store, candidates=[0]) == [0]
    ingest(fake, fake.run("r1"), 0, fingerprint=span_plan.fingerprint(config, 0))
    assert span_plan.pending_spans(config, fake.store, candidates=[0]) == []
    assert span_plan.pending_spans(config, fake.store) == []  # no spans: nothing to plan


def test_span_lists_read_as_ranges():
    assert span_plan.span_list([5, 1, 2, 3, 9, 10]) == "1-3, 5, 9-10"
    assert span_plan.span_list([]) == "none"


def test_a_folder_is_settled_once_its_files_stop_changing(tmp_path):
    now = [time.time()]
    watch = span_plan.SettleWatch(30, clock=lambda: now[0])
    folder = tmp_path / "span-1"
    assert not watch.settled(str(folder))  # nothing there yet
    folder.mkdir()
    (folder / "a.csv").write_text("x\n")
    assert not watch.settled(str(folder))  # written just now
    now[0] += 20
    (folder / "a.csv").write_text("x\n1\n")  # still being written
    now[0] += 20
    assert not watch.settled(str(folder))  # the change, seen now
    now[0] += 25
    assert not watch.settled(str(folder))
    now[0] += 5
    assert watch.settled(str(folder))  # 30 s without a change


def test_a_folder_already_old_when_first_seen_is_settled_at_once(tmp_path):
    folder = tmp_path / "span-1"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n")
    old = time.time() - 3600
    os.utime(folder / "a.csv", (old, old))
    assert span_plan.SettleWatch(30).settled(str(folder))
