"""pipeline.push: a version appears complete in one rename or not at all; TFX's PushedModel properties kept."""
import json
import os
import socket

import pytest
from tfx.types import standard_artifacts
from tfx.types.artifact_utils import get_single_instance

from pipeline import push
from serving.server.versions import list_versions
from tests.mlmd_fake import dead_pid

FILES = ("saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001",
         "assets.extra/schema.pbtxt", "fingerprint.pb")


def _tree(root):
    return {os.path.relpath(os.path.join(folder, name), root): open(os.path.join(folder, name), "rb").read()
            for folder, _, files in os.walk(root) for name in files}


@pytest.fixture
def model(tmp_path):
    """A stand-in SavedModel folder with the files a version must hold."""
    root = tmp_path / "model"
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode() * 100)
    return str(root)


def test_push_lands_complete_under_the_unix_time(model, tmp_path, monkeypatch):
    monkeypatch.setattr(push.time, "time", lambda: 1700000000.7)
    base = str(tmp_path / "serving" / "penguins")
    version_dir = push.push_atomically(model, base)
    assert version_dir == os.path.join(base, "1700000000")
    assert _tree(version_dir) == _tree(model)
    assert os.listdir(base) == ["1700000000"]  # no staging folder left behind


def test_an_existing_version_is_never_replaced(model, tmp_path, monkeypatch):
    monkeypatch.setattr(push.time, "time", lambda: 1700000000.0)
    base = tmp_path / "serving"
    (base / "1700000000").mkdir(parents=True)
    (base / "1700000000" / "saved_model.pb").write_bytes(b"the model already served")
    version_dir = push.push_atomically(model, str(base))
    assert version_dir == str(base / "1700000001")
    assert (base / "1700000000" / "saved_model.pb").read_bytes() == b"the model already served"


def test_a_push_that_fails_halfway_leaves_nothing(model, tmp_path, monkeypatch):
    base = tmp_path / "serving"
    (base / "17").mkdir(parents=True)

    def copy_half_then_fail(src, dst):
        os.makedirs(os.path.join(dst, "variables"))
        open(os.path.join(dst, "variables", "variables.index"), "wb").close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(push.io_utils, "copy_dir", copy_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        push.push_atomically(model, str(base))
    assert os.listdir(base) == ["17"]


def test_staging_is_invisible_to_the_server(model, tmp_path):
    base = tmp_path / "serving"
    (base / "17").mkdir(parents=True)
    staging = push.staging_dir(str(base))
    os.makedirs(os.path.join(staging, "variables"))
    assert os.path.basename(staging).startswith(".")
    assert list_versions(str(base)) == [17]


def test_leftovers_of_dead_pushes_on_this_machine_are_removed_others_kept(tmp_path):
    host = socket.gethostname()
    names = {"dead": f"{push.STAGING_PREFIX}{host}-{dead_pid()}-0badc0de",
             "live": f"{push.STAGING_PREFIX}{host}-{os.getpid()}-0badc0de",
             "elsewhere": f"{push.STAGING_PREFIX}{host}-elsewhere-{dead_pid()}-0badc0de",
             "version": "17", "other": ".nfs0001"}
    for name in names.values():
        (tmp_path / name).mkdir()
    assert push.remove_abandoned_staging(str(tmp_path)) == [names["dead"]]
    assert sorted(os.listdir(tmp_path)) == sorted(n for k, n in names.items() if k != "dead")


def _push_inputs(model_uri, blessed, output_uri):
    model = standard_artifacts.Model()
    model.uri = model_uri
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = output_uri + "-blessing"
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = output_uri
    return {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}


def _destination(base):
    return json.dumps({"filesystem": {"base_directory": base}})


def test_executor_records_what_tfx_records(model, tmp_path):
    """pushed, pushed_destination and pushed_version exactly as TFX's Pusher writes them."""
    os.rename(model, str(tmp_path / "Format-Serving"))  # the Trainer's layout: <model uri>/Format-Serving
    inputs, outputs = _push_inputs(str(tmp_path), True, str(tmp_path / "pushed"))
    base = str(tmp_path / "serving")
    push.AtomicPushExecutor().Do(inputs, outputs, {"push_destination": _destination(base)})
    pushed = get_single_instance(outputs["pushed_model"])
    [version] = os.listdir(base)
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == os.path.join(base, version)
    assert pushed.get_string_custom_property("pushed_version") == version
    assert _tree(os.path.join(base, version)) == _tree(str(tmp_path / "Format-Serving")) == _tree(pushed.uri)


def test_executor_pushes_nothing_unblessed(model, tmp_path):
    inputs, outputs = _push_inputs(model, False, str(tmp_path / "pushed"))
    base = tmp_path / "serving"
    push.AtomicPushExecutor().Do(inputs, outputs, {"push_destination": _destination(str(base))})
    assert get_single_instance(outputs["pushed_model"]).get_int_custom_property("pushed") == 0
    assert not base.exists()
