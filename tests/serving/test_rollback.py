"""Rollback: an earlier blessed version serves again, as the highest version, recorded as a push."""
import os
import shutil
import threading
import time

import pytest

from runs import history, lineage, metadata
from runs.store import MetadataConfig, open_store
from serving import rollback
from serving.server.versions import list_versions
from tests.mlmd_fake import FakeTfxStore
from tests.runs.span_records import ingest, train


def _serving(tmp_path, fake, pushes):
    """A base path holding a folder per pushed version; pushes: (version, blessed, same model as the previous)."""
    base = tmp_path / "serving_model" / "penguins"
    run = fake.run("r1")
    outputs = None
    for version, blessed, same_model in pushes:
        if same_model:
            outputs = dict(outputs, pushed_model=fake.execute(
                run, "Pusher", inputs={"model": outputs["model"], "model_blessing": outputs["blessing"]},
                outputs={"pushed_model": fake.artifact("PushedModel", "/p", pushed=1, pushed_version=str(version),
                                                       pushed_destination=str(base / str(version)))})["pushed_model"])
        else:
            outputs = train(fake, run, [ingest(fake, run, 1)], blessed=blessed, pushed_version=version)
        (base / str(version)).mkdir(parents=True)
        (base / str(version) / "saved_model.pb").write_text(f"model of {version}")
    return str(base)


def test_without_to_the_previous_different_model_serves_again_as_a_new_highest_version(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    base = _serving(tmp_path, fake, [(100, True, False), (200, True, False), (300, True, True)])
    done = rollback.rollback(fake.store, base, "penguins")
    assert (done.restored, done.replaced) == ("100", 300)  # 300 re-pushed 200's model
    assert done.new_version > 300 and list_versions(base)[0] == done.new_version
    assert open(os.path.join(base, str(done.new_version), "saved_model.pb")).read() == "model of 100"
    assert not [n for n in os.listdir(base) if n.startswith(rollback.STAGING_PREFIX)]
    newest = history.history(fake.store)[0]
    assert (newest.trigger, newest.outcome, newest.pushed_version, newest.restored_version) == (
        "rollback", "pushed", str(done.new_version), "100")


@pytest.mark.parametrize("to, pushes, message", [
    ("123", [(100, True, False), (200, True, False)], "version 123 was never pushed as a blessed model"),
    ("200", [(100, True, False), (200, False, False)], "version 200 was never pushed as a blessed model"),
    ("200", [(100, True, False), (200, True, False)], "version 200 is already the one serving"),
    (None, [(100, True, False)], "no earlier blessed version to roll back to"),
])
def test_what_cannot_be_restored_is_refused_and_nothing_changes(tmp_path, to, pushes, message):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    base = _serving(tmp_path, fake, pushes)
    before = sorted(os.listdir(base))
    with pytest.raises(rollback.RollbackError, match=message):
        rollback.rollback(fake.store, base, "penguins", to)
    assert sorted(os.listdir(base)) == before
    assert len(lineage.pushed_models(fake.store)) == len(pushes)


def test_a_version_whose_files_are_gone_is_refused(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    base = _serving(tmp_path, fake, [(100, True, False), (200, True, False)])
    shutil.rmtree(os.path.join(base, "100"))
    with pytest.raises(rollback.RollbackError, match=r"version 100 was pushed, but .*/100 is gone"):
        rollback.rollback(fake.store, base, "penguins", "100")


def test_the_command_says_what_it_did_or_why_not(tmp_path, capsys):
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    _serving(tmp_path, fake, [(100, True, False), (200, True, False)])
    assert rollback.main(["--output-dir", str(tmp_path), "--to", "7"]) == 2
    assert capsys.readouterr().err.startswith("error: version 7 was never pushed as a blessed model")
    assert rollback.main(["--output-dir", str(tmp_path)]) == 0
    assert "is a copy of version 100 (it replaces 200)" in capsys.readouterr().out


@pytest.mark.e2e
def test_rollback_under_load_from_16_clients_fails_no_request(ct_run, tmp_path):
    from serving.client import RestClient
    from serving.server import ModelServer

    output, base, serving_before, rows = ct_run.served_copy(tmp_path)
    rows = rows[:8]
    results = {"ok": 0, "errors": []}
    stop = threading.Event()
    lock = threading.Lock()
    with ModelServer("penguins", base, grpc_port=0, rest_port=0, poll_seconds=0.2) as server:
        client = RestClient("127.0.0.1", server.rest_port, "penguins")

        def send():
            while not stop.is_set():
                try:
                    client.predict_rows(rows)
                    with lock:
                        results["ok"] += 1
                except Exception as e:  # noqa: BLE001 - every failure counts
                    with lock:
                        results["errors"].append(repr(e))

        clients = [threading.Thread(target=send) for _ in range(16)]
        for thread in clients:
            thread.start()
        time.sleep(2)
        done = rollback.rollback(open_store(MetadataConfig.for_output(str(output))), base, "penguins")
        deadline = time.monotonic() + 120
        while server.models.current.version != done.new_version and time.monotonic() < deadline:
            time.sleep(0.2)
        switched_at = results["ok"]
        time.sleep(2)  # and keep serving on the restored version
        stop.set()
        for thread in clients:
            thread.join()
        assert server.models.current.version == done.new_version
    assert results["errors"] == [] and switched_at > 0 and results["ok"] > switched_at
    # TF Serving's default policy serves the highest version: the restored copy is it.
    assert list_versions(base)[0] == done.new_version > serving_before
    assert os.path.isfile(os.path.join(done.path, "saved_model.pb"))
    store = open_store(MetadataConfig.for_output(str(output)), readonly=True)
    push = lineage.push_of_version_dir(store, done.path)
    assert metadata.custom_property(push, "restored_version") == done.restored
    steps = {s.role: s for s in lineage.trace(store, push)}
    assert {"model", "blessing", "examples"} <= set(steps)  # its lineage leads to the data, as any push's


def test_another_models_pushes_in_a_shared_store_are_not_candidates(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    base = _serving(tmp_path, fake, [(100, True, False), (200, True, False)])
    other = FakeTfxStore(str(tmp_path / "m.sqlite"), "another-pipeline")
    run = other.run("o1")
    model = other.execute(run, "Trainer", outputs={"model": other.artifact("Model", "/m")})["model"]
    blessing = other.execute(run, "Evaluator", outputs={"blessing": other.artifact(
        "ModelBlessing", "/b", blessed=1)})["blessing"]
    other.execute(run, "Pusher", inputs={"model": model, "model_blessing": blessing}, outputs={
        "pushed_model": other.artifact("PushedModel", "/p", pushed=1, pushed_version="150",
                                       pushed_destination="/elsewhere/serving_model/cormorants/150")})
    with pytest.raises(rollback.RollbackError, match="versions you can restore: 200, 100"):
        rollback.rollback(fake.store, base, "penguins", "150")
