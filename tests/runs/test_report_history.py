"""The history page: the metric per run, the version serving, alert windows; one offline file."""
import re

from runs import history, records
from runs.layout import OutputLayout
from runs.report_history import render, write_history_report
from tests.mlmd_fake import FakeTfxStore
from tests.runs.span_records import ingest, train


def _row(run_id, ms, outcome, value=None, version=None, **extra):
    return history.HistoryRow(run_id, "2026-01-01 00:00:00", ms, "new span", "", outcome, metric="accuracy",
                              value=value, pushed_version=version, **extra)


def test_the_page_charts_every_run_the_serving_bands_and_the_alerts():
    rows = [_row("r3", 3_000_000, "not blessed", 0.80), _row("r2", 2_000_000, "anomalies", anomalies=2),
            _row("r1", 1_000_000, "pushed", 0.95, "100", trained_spans=[1], ingested_spans=[1])]
    periods = [history.ServedPeriod("100", 1_000_000, None, None)]
    checks = [records.CheckRecord("drift", "alert", "1970-01-01T00:25:00+00:00", "1970-01-01T00:40:00+00:00",
                                  "/r.md", "drift in bill_length_mm", 2_400_000),
              records.CheckRecord("drift", "clean", "", "", "", "nothing found", 2_500_000)]
    page = render(rows, periods, checks, "penguins-pipeline history")
    assert "<script" not in page and "http" not in page.split("</svg>")[0].replace("http://www.w3.org", "")
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert len(re.findall(r"<circle ", svg)) == 2  # the two evaluated runs
    assert len(re.findall(r'<rect [^>]*width="8"', svg)) == 1  # the run stopped by anomalies
    assert "version 100" in svg and "drift: drift in bill_length_mm" in svg
    assert svg.count('opacity="0.12"') == 1  # one alert window shaded, the clean check not
    assert "2 anomalies" in page and "1 (new: 1)" in page and "0.9500" in page


def test_written_under_reports_from_the_store(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    train(fake, run, [ingest(fake, run, 1)], pushed_version=100)
    path = write_history_report(fake.store, OutputLayout(str(tmp_path / "out")), fake.pipeline_name)
    assert path == str(tmp_path / "out" / "reports" / "history.html")
    assert "r1" in open(path).read()
