"""Live quality: delayed labels joined with the request log by request id, per version and window."""
import json
import os
from datetime import datetime, timezone

import numpy as np
import pytest

from monitoring import live_quality
from runs.layout import OutputLayout
from serving.server.request_log import LoggedRequest, RequestLog
from tests.mlmd_fake import FakeTfxStore

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc).timestamp()


def _log(output, requests):
    """requests: (request id, version, seconds after T0, predicted classes)."""
    log = RequestLog(str(output / "request_log" / "penguins"))
    for rid, version, seconds, classes in requests:
        log.submit(LoggedRequest("penguins", version, "serving_default", "rest", 1.0,
                                 {"classes": np.array([c.encode() for c in classes], dtype=object)},
                                 rows=[{}] * len(classes), timestamp=T0 + seconds, request_id=rid))
    log.flush()
    log.close()


@pytest.fixture
def output(tmp_path):
    """Versions 1 and 2 served; 1 got 4 requests in one hour, 2 got 4 in the next (one of them two rows)."""
    out = tmp_path / "out"
    for version in (1, 2):
        (out / "serving_model" / "penguins" / str(version)).mkdir(parents=True)
    FakeTfxStore(str(out / "metadata.sqlite"))
    _log(out, [("a1", 1, 60, ["Adelie"]), ("a2", 1, 120, ["Gentoo"]), ("a3", 1, 180, ["Adelie"]),
               ("a4", 1, 240, ["Chinstrap"]), ("b1", 2, 3700, ["Adelie"]), ("b2", 2, 3800, ["Gentoo"]),
               ("b3", 2, 3900, ["Adelie", "Gentoo"]), ("b4", 2, 4000, ["Chinstrap"])])
    return out


def _labels(tmp_path, lines, name="labels.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_live_accuracy_per_version_and_window_is_exact(output, tmp_path):
    labels = _labels(tmp_path, [json.dumps({"request_id": rid, "label": label}) for rid, label in (
        ("a1", "Adelie"), ("a2", "Adelie"), ("a3", "Adelie"), ("a4", "Chinstrap"),  # version 1: 3 of 4
        ("b1", "Gentoo"), ("b2", "Gentoo"), ("b4", "Adelie"))] +                    # version 2: 1 of 3 ...
        [json.dumps({"request_id": "b3", "label": "Gentoo", "row": 1}),              # ... + row 1 of b3: 2 of 4
         json.dumps({"request_id": "b3", "label": "Adelie"}),                        # two rows, no row index
         json.dumps({"request_id": "zz", "label": "Adelie"})])                       # never logged
    result = live_quality.check(str(output), labels, min_labels=1, window="1h")
    cells = {(c["version"], c["window"]): c for c in result["cells"]}
    assert cells[("1", "all")]["live"] == 0.75 and cells[("1", "all")]["labels"] == 4
    assert cells[("2", "all")]["live"] == 0.5 and cells[("2", "all")]["labels"] == 4
    assert cells[("1", "2026-03-01T10:00+00:00 .. 2026-03-01T11:00+00:00")]["live"] == 0.75
    assert cells[("2", "2026-03-01T11:00+00:00 .. 2026-03-01T12:00+00:00")]["live"] == 0.5
    assert (result["labels"], result["joined"], result["unmatched"], result["ambiguous"]) == (10, 8, 1, 1)
    assert result["ok"]  # nothing to compare with: no blessing recorded for these versions
    assert all(os.path.exists(p) for p in result["report_files"])
    latest = OutputLayout(str(output)).monitoring_result(result["model"], "live_quality")
    assert json.loads(open(latest).read()) == json.loads(json.dumps(result))
    assert result["check"] == "live_quality" and result["summary"] == "live quality holds"


def test_a_drop_beyond_the_allowed_regression_alerts(output, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(live_quality, "blessed_bar", lambda store, base, version: ("accuracy",
                                                                               0.9, 0.02))
    csv_labels = _labels(tmp_path, ["request_id,label"] + [f"a{i},Adelie" for i in range(1, 5)], "labels.csv")
    assert live_quality.main(["--output-dir", str(output), "--labels", csv_labels, "--min-labels", "4"]) == 1
    printed = capsys.readouterr().out
    assert "ALERT: version 1 (all) 0.5000 vs blessed 0.9000, allowed drop 0.02" in printed
    assert "Written: " in printed
    result = json.loads(open(OutputLayout(str(output)).monitoring_result("penguins", "live_quality")).read())
    assert not result["ok"] and result["summary"].startswith("ALERT: version 1 (all)")
    # Too few labels to judge: reported, not alerted.
    assert live_quality.main(["--output-dir", str(output), "--labels", csv_labels, "--min-labels", "30"]) == 0


@pytest.mark.parametrize("content, message", [
    ("request_id,truth\na1,Adelie\n", "needs the keys request_id, label"),
    ("", "holds no labels"),
    ('{"request_id": "a1"\n', "not CSV or JSON lines"),
    ("request_id,label,row\na1,Adelie,first\n", "record 1 is not request_id, label[, row]"),
])
def test_unreadable_labels_are_one_line(output, tmp_path, content, message, capsys):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    assert live_quality.main(["--output-dir", str(output), "--labels", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_labels_that_match_nothing_cannot_be_checked(output, tmp_path, capsys):
    labels = _labels(tmp_path, ["request_id,label", "nope,Adelie"], "labels.csv")
    assert live_quality.main(["--output-dir", str(output), "--labels", labels]) == 2
    assert "none of the 1 labels matches a logged prediction" in capsys.readouterr().err


@pytest.mark.e2e
def test_labels_for_served_requests_give_the_exact_live_accuracy_beside_the_blessed_metric(ct_run, tmp_path):
    """Requests over REST to two versions (before and after a rollback), labels known in advance."""
    from runs.store import MetadataConfig, open_store
    from serving import rollback
    from serving.client import RestClient
    from serving.server import ModelServer

    output, base, first, rows = ct_run.served_copy(tmp_path)
    sent = []  # (version, request id, predicted class)
    with ModelServer("penguins", base, grpc_port=0, rest_port=0, poll_seconds=0.2,
                     request_log_dir=str(output / "request_log" / "penguins")) as server:
        client = RestClient("127.0.0.1", server.rest_port, "penguins")
        for round_, count in ((0, 10), (1, 8)):
            if round_:
                done = rollback.rollback(open_store(MetadataConfig.for_output(str(output))), base, "penguins")
                while server.models.current.version != done.new_version:
                    pass
            for row in rows[round_ * 10:round_ * 10 + count]:
                predicted = client.predict_rows([row])[0]["classes"]
                sent.append((server.models.current.version, client.last_request_id, predicted))
    assert len({rid for _, rid, _ in sent}) == len(sent)
    other = {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"}
    # The first 7 of version one and the first 2 of version two are labelled as predicted, the rest wrong.
    labels, right = [], {first: 7, done.new_version: 2}
    for version, rid, predicted in sent:
        correct = sum(1 for v, r, _ in sent[:sent.index((version, rid, predicted))] if v == version) < right[version]
        labels.append(json.dumps({"request_id": rid, "label": predicted if correct else other[predicted]}))
    result = live_quality.check(str(output), _labels(tmp_path, labels), min_labels=5)
    overall = {c["version"]: c for c in result["cells"] if c["window"] == "all"}
    assert overall[str(first)]["live"] == 7 / 10 and overall[str(done.new_version)]["live"] == 2 / 8
    for cell in overall.values():
        assert cell["blessed_metric"] == "accuracy" and cell["blessed_value"] is not None
        assert cell["max_drop"] == pytest.approx(0.02) and cell["alert"]
    assert not result["ok"]


def test_the_old_snake_case_flags_still_work_and_help_shows_kebab_case(output, tmp_path):
    labels = _labels(tmp_path, ["request_id,label", "a1,Adelie"], "labels.csv")
    args = live_quality.build_parser().parse_args(["--labels", labels, "--min_labels", "3", "--max_drop", "0.1",
                                                   "--model_name", "penguins"])
    assert (args.min_labels, args.max_drop, args.model_name) == (3, 0.1, "penguins")
    assert "--min_labels" not in live_quality.build_parser().format_help()
