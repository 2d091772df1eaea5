"""What the project adds to ML Metadata: run triggers, rollbacks as pushes, monitoring checks."""
from runs import lineage, metadata, records
from tests.mlmd_fake import FakeTfxStore
from tests.runs.span_records import ingest, train


def test_a_runs_trigger_is_recorded_on_its_run_context(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    fake.run("r1")
    fake.run("r2")
    records.record_trigger(fake.store, "r1", "new span", "span 3 ready", records.INGEST_STAGE)
    assert records.run_annotations(fake.store, "r1") == {"trigger": "new span", "trigger_detail": "span 3 ready",
                                                         "stage": "ingest"}
    assert records.run_annotations(fake.store, "r2")["trigger"] == "manual"  # a run nobody annotated


def test_a_rollback_is_a_push_of_the_restored_model_in_a_run_of_its_own(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    outputs = train(fake, run, [ingest(fake, run, 1)], pushed_version=100)
    run_id = records.record_rollback(fake.store, outputs["pushed_model"], 300, "/serving/300", replaced_version=200)
    newest = lineage.pushed_models(fake.store)[0]
    assert metadata.custom_property(newest, "pushed_version") == "300"
    assert metadata.custom_property(newest, records.RESTORED_VERSION) == "100"
    assert lineage.is_blessed_push(fake.store, newest)
    inputs = lineage.push_inputs(fake.store, newest)
    assert (inputs["model"].id, inputs["model_blessing"].id) == (outputs["model"].id, outputs["blessing"].id)
    assert run_id.startswith("rollback-") and run_id in metadata.pipeline_runs(fake.store, fake.pipeline_name)
    assert records.run_annotations(fake.store, run_id)["trigger"] == "rollback"
    assert lineage.push_of_version_dir(fake.store, "/serving/300").id == newest.id


def test_monitoring_checks_are_read_back_in_order(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    assert records.checks(fake.store) == []
    records.record_check(fake.store, fake.pipeline_name, "drift", "clean", since="a", until="b")
    records.record_check(fake.store, fake.pipeline_name, "drift", "alert", since="b", until="c",
                         report="/r.md", detail="drift in bill_length_mm")
    records.record_check(fake.store, "other-pipeline", "live quality", "alert")
    mine = records.checks(fake.store, fake.pipeline_name)
    assert [(c.check, c.verdict, c.since, c.until) for c in mine] == [("drift", "clean", "a", "b"),
                                                                     ("drift", "alert", "b", "c")]
    assert mine[1].report == "/r.md" and mine[1].detail == "drift in bill_length_mm"
    assert len(records.checks(fake.store)) == 3


def test_a_rollback_run_skipped_none_of_the_pipelines_components(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    outputs = train(fake, run, [ingest(fake, run, 1)], pushed_version=100)
    run_id = records.record_rollback(fake.store, outputs["pushed_model"], 300, "/serving/300", 100)
    overview = metadata.run_overview(fake.store, run_id)
    assert [e.node_id for e in overview.executions] == ["Rollback"] and overview.skipped == []
    assert metadata.run_overview(fake.store, "r1").skipped == []
