"""runs.report: the self-contained HTML report of a run, checked as text and in headless Chromium."""
import dataclasses
import io
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from pipeline.config import load_config
from runs import metadata, report, report_html, results, tuning
from runs.lineage import LineageStep
from runs.store import open_store
from tests.conftest import PENGUINS

SECTION_IDS = ["run", "data", "anomalies", "schema", "hyperparameters", "evaluation", "lineage"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _Outline(HTMLParser):
    """What a page is made of: section ids, headings, tags, and every external reference."""

    def __init__(self):
        super().__init__()
        self.sections, self.headings, self.tags, self.references = [], [], [], []
        self._heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag in ("h1", "h2", "h3"):
            self._heading = (tag, "")
        self.references += [v for k, v in attrs.items() if k in ("src", "href") and not v.startswith("#")]

    def handle_data(self, data):
        if self._heading is not None:
            self._heading = (self._heading[0], self._heading[1] + data)

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append((self._heading[0], self._heading[1].strip()))
            self._heading = None


def _outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


def _copy_store(config, tmp_path):
    """A private output folder holding a copy of the run's store (artifact URIs stay absolute)."""
    output = tmp_path / "output"
    output.mkdir()
    shutil.copyfile(config.metadata.sqlite_path, output / "metadata.sqlite")
    return load_config(None, {"dataset": config.dataset.folder, "output_dir": str(output)})


def _fake_report() -> report.RunReport:
    run = metadata.RunOverview("run-<1>", "fake-pipeline", 0, 5000, [
        metadata.NodeExecution("ExampleValidator", 3, "complete", 0, 1000, "run-<1>"),
        metadata.NodeExecution("Evaluator", 7, "complete", 1000, 5000, "run-<1>")], ["Pusher"])
    evaluation = results.Evaluation(
        blessed=False, metrics={"Overall": {"accuracy": 0.8, "example_count": 10.0},
                                "island:Dream": {"accuracy": 0.5, "example_count": 4.0}},
        baseline_diffs={"Overall": {"accuracy": -0.1, "example_count": 0.0}},
        failures=[results.ThresholdFailure("Overall", "accuracy", 0.8, "needs >= 0.85", "")])
    return report.RunReport(
        run=run, split_sizes={"train": 30, "eval": 10},
        features=[report.FeatureStats("<script>", "STRING", {
            "train": report.SplitFeature(0.1, "2 unique values", top_values={"a": 0.75, "b": 0.25}),
            "eval": report.SplitFeature(0.0, "1 unique values", top_values={"a": 1.0})}),
            report.FeatureStats("mass", "FLOAT", {"train": report.SplitFeature(
                0.0, "mean 2", histogram=[(0.0, 1.0, 0.5), (1.0, 2.0, 0.5)])})],
        anomalies=[results.Anomaly("eval", "island", "Unexpected string values", "Atlantis (~1%)")],
        evaluation=evaluation, evaluated_on=["test"],
        thresholds=[results.ThresholdCheck("accuracy", "Overall", ">= 0.85", 0.8, False),
                    results.ThresholdCheck("accuracy (change vs baseline)", "Overall",
                                           "absolute change vs baseline >= -0.02", -0.1, False)],
        lineage=[LineageStep("model", "Model", 4, "/root/model", "Trainer", "run-<1>", "2026-01-01 00:00:00",
                             {"run_fn": "models.model.run_fn"})],
        trigger={"trigger": "manual"})


def test_the_run_says_why_it_ran_and_which_spans_it_trained_on():
    fake = _fake_report()
    fake.trigger = {"trigger": "new span", "trigger_detail": "span 3 ready"}
    fake.trained_spans, fake.ingested_spans = [1, 2, 3], [3]
    html = report_html.render(fake)
    assert "Trigger: <b>new span</b> (span 3 ready)" in html
    assert "Spans trained on: <b>1, 2, 3</b>; read by ExampleGen in this run: 3." in html


def test_render_escapes_and_shows_a_failed_evaluation():
    html = report_html.render(_fake_report())
    outline = _outline(html)
    assert outline.sections == SECTION_IDS
    assert "script" not in outline.tags and outline.references == []
    assert "&lt;script&gt;" in html and "run-&lt;1&gt;" in html
    assert "NOT BLESSED" in html and html.count(">FAIL<") == 2
    assert "Judged on the test split: 10 examples." in html
    assert "Atlantis (~1%)" in html and "1 anomaly</span> found by ExampleValidator" in html
    assert "<td>absent</td>" not in html and "absent" in html  # mass has no eval statistics
    assert re.search(r"<td class=\"num\">0\.8000</td><td class=\"num\">0\.9000</td>"
                     r"<td class=\"num\">-0\.1000</td>", html)  # value, baseline, change
    assert "Not pushed in this run" in html and "models.model.run_fn" in html
    assert "Trigger: <b>manual</b>" in html and "Spans trained on" not in html  # no spans: nothing to say


def test_an_interrupted_run_says_so_and_calls_nothing_skipped():
    fake = _fake_report()
    fake.run = metadata.RunOverview(
        "run-2", "fake-pipeline", 0, 5000,
        [metadata.NodeExecution("Transform", 3, metadata.INTERRUPTED, 0, 5000, "run-2")], skipped=[],
        status=metadata.INTERRUPTED, not_run=["Trainer", "Pusher"],
        beam_args=["--runner=PortableRunner", "--environment_type=EXTERNAL"])
    fake.evaluation, fake.thresholds = None, []
    html = report_html.render(fake)
    assert "The run did not finish: <b>interrupted</b>." in html
    assert "Beam: <code>--runner=PortableRunner --environment_type=EXTERNAL</code>" in html
    assert "<td>not run</td>" in html and "skipped" not in html
    assert "No evaluation in this run: the run did not finish (interrupted)." in html


@pytest.fixture(scope="module")
def real_report(pipeline_run, tmp_path_factory):
    config = _copy_store(pipeline_run, tmp_path_factory.mktemp("report"))
    return config, report_html.write_run_report(open_store(config.metadata), config.layout)


@pytest.mark.e2e
def test_report_of_a_real_run(real_report, pipeline_run):
    config, path = real_report
    [run_id] = metadata.pipeline_runs(open_store(config.metadata, readonly=True))
    assert path == config.layout.report_path(run_id)
    latest = config.layout.latest_report
    with open(path) as f, open(latest) as g:
        html = f.read()
        assert g.read() == html
    outline = _outline(html)
    assert outline.sections == SECTION_IDS
    assert "script" not in outline.tags and "link" not in outline.tags and outline.references == []
    assert "https://" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for column in pipeline_run.dataset.columns():
        assert f"<b>{column}</b>" in html
    assert html.count("<svg") >= 2 * len(pipeline_run.dataset.columns())  # train and eval, per feature
    assert "No anomalies" in html and "Schema <b>curated</b>" in html
    assert "BLESSED: every threshold passed" in html and ">pass<" in html
    assert pipeline_run.dataset.evaluation.metric in html and "island:Biscoe" in html
    version = os.listdir(pipeline_run.serving_dir)[0]
    assert f"Pushed as serving version <b>{version}</b>" in html
    assert os.path.join(pipeline_run.dataset.folder, "*.csv") in html


def _chromium(*args, timeout=90):
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/ci_services.sh installs it)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


@pytest.mark.browser
@pytest.mark.e2e
def test_report_renders_in_headless_chromium(real_report, tmp_path):
    _, path = real_report
    dom = _chromium("--dump-dom", f"file://{path}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    outline = _outline(dom.stdout)
    assert outline.sections == SECTION_IDS
    assert [text for level, text in outline.headings if level == "h2"] == [
        "Run", "Data", "Anomalies", "Schema", "Hyperparameters", "Evaluation", "Lineage and push"]
    assert ("h3", "Metrics per slice") in outline.headings
    assert outline.tags.count("svg") >= 8 and outline.tags.count("rect") > 50

    screenshot = tmp_path / "report.png"  # *.png is gitignored; this one lives in tmp
    shot = _chromium(f"--screenshot={screenshot}", "--window-size=1280,3000", f"file://{path}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    with open(screenshot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(screenshot) > 50_000  # a page of tables and charts, not a blank one


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory):
    """A run on data with an island the curated schema does not know: it stops before Transform."""
    import local_runner

    root = tmp_path_factory.mktemp("gated")
    data = root / "data"
    shutil.copytree(PENGUINS, data)
    with open(data / "penguins.csv", "a") as f:
        f.write("Adelie,Atlantis,39.1,18.7,181,3750,male,2007\n")
    config = load_config(None, {"dataset": str(data), "output_dir": str(root / "output")})
    assert local_runner.run(config, out=io.StringIO()) == 3
    return config


@pytest.mark.e2e
def test_report_of_a_run_stopped_by_anomalies(gated_run):
    path = report_html.write_run_report(open_store(gated_run.metadata), gated_run.layout)
    with open(path) as f:
        html = f.read()
    assert _outline(html).sections == SECTION_IDS
    assert "Atlantis" in html and "The run stopped before training." in html
    assert "No evaluation in this run: the run stopped before training." in html
    assert "Not pushed in this run" in html
    assert re.search(r"<td>Transform</td><td>skipped</td>", html)
    store = open_store(gated_run.metadata, readonly=True)
    collected = report.collect(store, metadata.pipeline_runs(store)[0])
    assert [a.feature for a in collected.anomalies] == ["island"]
    assert collected.evaluation is None and collected.push is None
    assert [s.role for s in collected.lineage] == ["statistics", "examples", "input_data"]




def test_the_hyperparameters_section_lists_every_trial():
    trials = [{"trial": "0", "status": "completed", "score": 0.25, "seconds": 3.0, "values": {"model_type": "dnn"},
               "reason": ""},
              {"trial": "1", "status": "failed", "score": None, "seconds": 1.0,
               "values": {"model_type": "wide_and_deep"}, "reason": "the eval loss is nan: training diverged"}]
    trained_with = tuning.TrainedWith(5, "/nowhere", "Tuner", {"model_type": "dnn"}, trials, 0.25, 4.0)
    html = report_html.render(dataclasses.replace(_fake_report(), trained_with=trained_with))
    section = html[html.index('id="hyperparameters"'):html.index('id="evaluation"')]
    assert "from Tuner" in section and "model_type=wide_and_deep (the eval loss is nan: training diverged)" in section
    assert "2 trials (1 completed, 1 failed)" in section and "0.2500" in section
