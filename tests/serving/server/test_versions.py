"""Version policy: highest complete version, skip broken or half-written ones, switch safely."""
import logging
import os
import shutil

import pytest

from serving.server.errors import ServingError
from serving.server.versions import ModelVersions, fingerprint, list_versions

MODEL = "penguins"


def copy_version(base_path, source, target):
    shutil.copytree(base_path / str(source), base_path / str(target))


def test_lists_only_integer_directories(tmp_path):
    for name in ("3", "10", "tmp-11", "x"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert list_versions(str(tmp_path)) == [10, 3]
    assert list_versions(str(tmp_path / "missing")) == []
    assert fingerprint(str(tmp_path / "3")) == ()


def test_serves_the_highest_loadable_version_and_skips_broken(pushed_version):
    path, version = pushed_version
    copy_version(path, version, version + 1)
    (path / str(version + 1) / "saved_model.pb").write_bytes(b"not a SavedModel")  # broken
    (path / str(version + 2) / "variables").mkdir(parents=True)  # half-written: no saved_model.pb yet
    loads = []
    models = ModelVersions(MODEL, str(path), on_load=lambda v, outcome: loads.append((v, outcome)))
    models.poll()
    assert models.current.version == version
    assert loads == [(version + 2, "incomplete"), (version + 1, "error"), (version, "ok")]
    states = {s.version: s for s in models.states(MODEL)}
    assert states[version].state == "AVAILABLE"
    assert states[version + 1].state == "END" and "failed to load" in states[version + 1].error_message
    assert states[version + 2].state == "END" and states[version + 2].error_message.startswith(
        "not loaded: incomplete version, missing saved_model.pb, variables/variables.index")
    models.poll()  # neither is retried while its files are unchanged
    assert loads == [(version + 2, "incomplete"), (version + 1, "error"), (version, "ok")]


@pytest.mark.parametrize("removed", ["saved_model.pb", "variables", "variables/variables.index",
                                     "variables/variables.data-00000-of-00001", "assets.extra",
                                     "assets.extra/schema.pbtxt"])
def test_an_incomplete_version_is_skipped_with_the_reason(pushed_version, removed, caplog):
    path, version = pushed_version
    copy_version(path, version, version + 1)
    target = path / str(version + 1) / removed
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    caplog.set_level(logging.INFO)  # the pipeline run in this session quietens the root logger
    models = ModelVersions(MODEL, str(path))
    models.poll()
    assert models.current.version == version
    [state] = models.states(MODEL, version + 1)
    assert state.state == "END" and state.error_code == "FAILED_PRECONDITION"
    assert state.error_message.startswith("not loaded: incomplete version, missing ")
    assert removed in state.error_message
    assert f"Skipping version {version + 1} of {MODEL}: incomplete version" in caplog.text


def test_switches_only_after_the_new_version_settles(pushed_version):
    path, version = pushed_version
    models = ModelVersions(MODEL, str(path))
    models.poll()
    old = models.get(MODEL)
    copy_version(path, version, version + 5)
    models.poll()  # first sight: files may still be changing
    assert models.current.version == version
    models.poll()  # unchanged since the last poll: load and switch
    assert models.current.version == version + 5
    assert old.version == version  # a request holding the old servable still has it
    assert {s.version: s.state for s in models.states(MODEL)} == {version: "END", version + 5: "AVAILABLE"}
    with pytest.raises(ServingError, match=f"Specific\\({MODEL}, {version}\\)"):
        models.get(MODEL, version)


def test_a_failed_version_is_retried_when_its_files_change(pushed_version):
    path, version = pushed_version
    new = path / str(version + 1)
    new.mkdir()
    shutil.copy(path / str(version) / "saved_model.pb", new / "saved_model.pb")  # variables not there yet
    models = ModelVersions(MODEL, str(path))
    models.poll()
    assert models.current.version == version
    assert models.states(MODEL, version + 1)[0].state == "END"
    for entry in os.listdir(path / str(version)):  # the rest of the copy arrives
        if entry != "saved_model.pb":
            src = path / str(version) / entry
            (shutil.copytree if src.is_dir() else shutil.copy)(src, new / entry)
    models.poll()
    models.poll()
    assert models.current.version == version + 1


def test_errors_for_unknown_models_and_versions(pushed_version):
    path, version = pushed_version
    models = ModelVersions(MODEL, str(path))
    with pytest.raises(ServingError, match=r"Latest\(penguins\)") as error:
        models.get(MODEL)  # nothing loaded yet
    assert error.value.code == "NOT_FOUND"
    models.poll()
    with pytest.raises(ServingError, match="Could not find any versions of model other"):
        models.states("other")
    with pytest.raises(ServingError, match=f"Could not find version 1 of model {MODEL}"):
        models.states(MODEL, 1)
