"""Spans as ML Metadata records them: ingested once, validated, trained on in a window."""
from runs import spans
from tests.mlmd_fake import CACHED, FakeTfxStore
from tests.runs.span_records import ingest, train


def test_ingested_spans_keep_the_newest_ingestion_and_its_validation(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    first = fake.run("r1")
    ingest(fake, first, 1)
    ingest(fake, first, 2, fingerprint="old", valid=False)
    second = fake.run("r2")
    newest = ingest(fake, second, 2, fingerprint="corrected")
    ingest(fake, second, 3, valid=None)
    found = spans.ingested_spans(fake.store, fake.pipeline_name)
    assert sorted(found) == [1, 2, 3]
    assert (found[2].examples_id, found[2].fingerprint, found[2].valid) == (newest.id, "corrected", True)
    assert found[1].valid is True and found[3].valid is None  # 3: never reached ExampleValidator
    assert spans.ingested_spans(fake.store, "another-pipeline") == {}


def test_transform_outputs_are_not_ingestions(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    ingest(fake, run, 1)
    fake.execute(run, "Transform", outputs={"transformed_examples": fake.artifact("Examples", "/t")})
    assert list(spans.ingested_spans(fake.store)) == [1]


def test_a_run_trained_on_its_window_and_a_cached_run_on_the_same(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    first = fake.run("r1")
    window = [ingest(fake, first, s) for s in (1, 2)]
    outputs = train(fake, first, window, pushed_version=100)
    again = fake.run("r2")
    ingest(fake, again, 2, state=CACHED)
    train(fake, again, window, state=CACHED, previous=outputs)
    assert spans.trained_spans(fake.store, "r1") == [1, 2]
    assert spans.trained_spans(fake.store, "r2") == [1, 2]  # through the execution that made the graph
    assert spans.ingested_in_run(fake.store, "r1") == [1, 2]
    assert spans.ingested_in_run(fake.store, "r2") == []  # ExampleGen served span 2 from its cache


def test_a_run_stopped_before_training_trained_on_nothing(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    ingest(fake, run, 1, valid=False)
    assert spans.trained_spans(fake.store, "r1") is None
