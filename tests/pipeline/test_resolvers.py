"""The span window and the serving model, resolved from ML Metadata as the local orchestrator does."""
from tfx import types
from tfx.types import standard_artifacts

from pipeline import resolvers
from pipeline.resolvers import LatestCacheStrategy, ServingModelStrategy, SpanWindowStrategy
from runs import records
from tests.mlmd_fake import FakeTfxStore
from tests.runs.span_records import ingest, train


def _tfx(artifact, cls=standard_artifacts.Examples) -> types.Artifact:
    wrapped = cls()
    wrapped.set_mlmd_artifact(artifact)
    return wrapped


def test_the_window_is_the_newest_valid_ingestion_of_the_newest_spans(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    examples = [ingest(fake, run, 1), ingest(fake, run, 2, fingerprint="old"), ingest(fake, run, 3, valid=False),
                ingest(fake, run, 2, fingerprint="corrected"), ingest(fake, run, 4)]
    artifacts = {"examples": [_tfx(a) for a in examples]}

    def window(**config):
        resolved = SpanWindowStrategy(**config).resolve_artifacts(fake.store, artifacts)
        return [(a.get_int_custom_property("span"), a.id) for a in resolved["examples"]]

    assert window(num_spans=2) == [(2, examples[3].id), (4, examples[4].id)]  # span 3 failed validation
    assert window() == [(1, examples[0].id), (2, examples[3].id), (4, examples[4].id)]
    assert window(validated_only=False) == [(1, examples[0].id), (2, examples[3].id), (3, examples[2].id),
                                            (4, examples[4].id)]
    assert SpanWindowStrategy().resolve_artifacts(fake.store, {"examples": []}) is None


def test_examples_written_before_the_test_split_stay_out_of_the_window(tmp_path, monkeypatch):
    """Spans ingested as train/eval only would make the Evaluator fail (or judge on no test rows)."""
    logged = []
    monkeypatch.setattr(resolvers.logging, "warning", lambda message, *args: logged.append(message % args))
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    old = (("train", 3), ("eval", 1))
    examples = [ingest(fake, run, 1, splits=old), ingest(fake, run, 2, splits=old), ingest(fake, run, 2),
                ingest(fake, run, 3)]
    strategy = SpanWindowStrategy(split_names=["train", "eval", "test"])
    resolved = strategy.resolve_artifacts(fake.store, {"examples": [_tfx(a) for a in examples]})
    assert [a.id for a in resolved["examples"]] == [examples[2].id, examples[3].id]  # span 2 ingested again
    assert len(logged) == 1 and "leaving out spans [1], whose Examples lack the splits" in logged[0]
    only_old = {"examples": [_tfx(a) for a in examples[:2]]}
    assert strategy.resolve_artifacts(fake.store, only_old) is None  # nothing to evaluate on: nothing runs


def test_the_baseline_is_the_model_serving_a_rolled_back_one_included(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    first = train(fake, run, [ingest(fake, run, 1)], pushed_version=100)
    second = train(fake, fake.run("r2"), [], pushed_version=200)
    inputs = {"model": [_tfx(o["model"], standard_artifacts.Model) for o in (first, second)],
              "model_blessing": [_tfx(o["blessing"], standard_artifacts.ModelBlessing) for o in (first, second)]}
    resolved = ServingModelStrategy().resolve_artifacts(fake.store, inputs)
    assert [a.id for a in resolved["model"]] == [second["model"].id]
    records.record_rollback(fake.store, first["pushed_model"], 300, "/serving/300", 200)
    resolved = ServingModelStrategy().resolve_artifacts(fake.store, inputs)
    assert [a.id for a in resolved["model"]] == [first["model"].id]
    assert [a.id for a in resolved["model_blessing"]] == [first["blessing"].id]
    other = FakeTfxStore(str(tmp_path / "m.sqlite"), "another-pipeline")  # a team store: another pipeline pushes
    train(other, other.run("o1"), [], pushed_version=400)
    resolved = ServingModelStrategy().resolve_artifacts(fake.store, inputs)
    assert [a.id for a in resolved["model"]] == [first["model"].id]


def test_no_cache_yet_is_an_empty_input_not_a_failure(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    assert LatestCacheStrategy().resolve_artifacts(fake.store, {"cache": []}) == {"cache": []}
