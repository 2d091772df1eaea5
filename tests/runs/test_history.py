"""History: one row per run with its trigger, spans, outcome and push; which version served when."""
from runs import history, records
from tests.mlmd_fake import CACHED, FakeTfxStore
from tests.runs.span_records import ingest, train


def _history(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    first = fake.run("2026-01-01T00:00:01")
    window = [ingest(fake, first, 1)]
    pushed = train(fake, first, window, pushed_version=100)
    records.record_trigger(fake.store, first.name, "new span", "span 1 ready")
    ingest_only = fake.run("2026-01-01T00:00:02")
    window.append(ingest(fake, ingest_only, 2))
    records.record_trigger(fake.store, ingest_only.name, "new span", stage=records.INGEST_STAGE)
    second = fake.run("2026-01-01T00:00:03")
    window.append(ingest(fake, second, 3))
    train(fake, second, window, blessed=False)
    bad = fake.run("2026-01-01T00:00:04")
    ingest(fake, bad, 4, valid=False)
    cached = fake.run("2026-01-01T00:00:05")
    train(fake, cached, window[:1], state=CACHED, previous=pushed)
    records.record_trigger(fake.store, cached.name, "schedule", "every 6h")
    rollback = records.record_rollback(fake.store, pushed["pushed_model"], 300, "/serving/300", 100)
    return fake, rollback


def test_each_run_is_one_row_newest_first(tmp_path):
    fake, rollback = _history(tmp_path)
    rows = history.history(fake.store, fake.pipeline_name)
    assert [r.run_id for r in rows][1:] == ["2026-01-01T00:00:05", "2026-01-01T00:00:04", "2026-01-01T00:00:03",
                                            "2026-01-01T00:00:02", "2026-01-01T00:00:01"]
    by_run = {r.run_id: r for r in rows}
    assert rows[0].run_id == rollback
    assert (rows[0].trigger, rows[0].outcome, rows[0].pushed_version, rows[0].restored_version) == (
        "rollback", "pushed", "300", "100")
    first = by_run["2026-01-01T00:00:01"]
    assert (first.trigger, first.outcome, first.trained_spans, first.ingested_spans, first.pushed_version) == (
        "new span", "pushed", [1], [1], "100")
    assert by_run["2026-01-01T00:00:02"].outcome == "ingested"
    assert by_run["2026-01-01T00:00:03"].outcome == "not blessed"
    assert by_run["2026-01-01T00:00:03"].trained_spans == [1, 2, 3]
    assert by_run["2026-01-01T00:00:03"].trigger == "manual"
    anomalies = by_run["2026-01-01T00:00:04"]
    assert anomalies.outcome == "anomalies" and anomalies.trained_spans is None
    nothing_new = by_run["2026-01-01T00:00:05"]
    assert (nothing_new.outcome, nothing_new.pushed_version, nothing_new.trigger) == ("nothing new", None, "schedule")
    assert first.spans_text() == "1 (new: 1)"


def test_the_served_version_is_the_newest_push(tmp_path):
    fake, _ = _history(tmp_path)
    periods = history.served_periods(fake.store)
    assert [(p.version, p.restored_version) for p in periods] == [("100", None), ("300", "100")]
    assert periods[0].end_ms == periods[1].start_ms and periods[1].end_ms is None


def test_a_push_whose_smoke_test_failed_reads_so_with_the_reason(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("2026-01-01T00:00:01")
    train(fake, run, [ingest(fake, run, 1)], pushed_version=100)
    [row] = history.history(fake.store)
    assert (row.outcome, row.smoke_test) == (history.PUSHED, None)  # no smoke test ran
    assert records.record_smoke_test(fake.store, "/serving/penguins/100", True) == run.name
    assert history.history(fake.store)[0].smoke_test == "passed"
    records.record_smoke_test(fake.store, "/serving/penguins/100", False, "server loads a version: warm-up failed")
    [row] = history.history(fake.store)
    assert row.outcome == history.SMOKE_FAILED and row.pushed_version == "100"
    assert row.smoke_test == "failed: server loads a version: warm-up failed"
