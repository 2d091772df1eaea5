"""Several models, version policies and labels over REST and gRPC, and config reloads under load."""
import logging
import os
import shutil
import subprocess
import sys

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.server import ModelServer
from serving.server.model_config import VersionPolicy
from serving.server.versions import ModelVersions, list_versions
from tests.conftest import REPO_ROOT
from tests.serving.server.test_server import CSV, Load, wait_for

MODEL = "penguins"


@pytest.fixture(scope="module")
def bases(pipeline_run, tmp_path_factory):
    """Model `penguins` with three versions (v, v+1, v+2) and model `other` with one."""
    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(pipeline_run.serving_dir, root / MODEL)
    [version] = list_versions(str(root / MODEL))
    for extra in (1, 2):
        shutil.copytree(root / MODEL / str(version), root / MODEL / str(version + extra))
    shutil.copytree(pipeline_run.serving_dir, root / "other")
    return root, version


def write_config(path, root, policy, labels=(), other=True):
    label_text = "".join(f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in labels)
    text = (f'model_config_list {{\n  config {{\n    name: "{MODEL}"\n    base_path: "{root / MODEL}"\n'
            f'    model_platform: "tensorflow"\n    model_version_policy {{ {policy} }}\n{label_text}  }}\n')
    if other:
        text += f'  config {{\n    name: "other"\n    base_path: "{root / "other"}"\n  }}\n'
    replace_atomically(path, text + "}\n")
    return path


def replace_atomically(path, text):
    """As a config should be updated: a reload never reads a half-written file."""
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    os.replace(staging, path)


@pytest.mark.parametrize("kind, num_versions, serving", [
    ("latest", 1, [2]),
    ("latest", 2, [2, 1]),
    ("specific", 1, [2, 0]),
    ("all", 1, [2, 1, 0]),
])
def test_version_policies_choose_what_serves(bases, kind, num_versions, serving):
    root, version = bases
    policy = VersionPolicy(kind, num_versions, tuple(version + offset for offset in serving))
    models = ModelVersions(MODEL, str(root / MODEL), policy=policy)
    models.poll()
    assert models.serving_versions == [version + offset for offset in serving]
    assert models.current.version == version + serving[0]
    states = {s.version: s.state for s in models.states(MODEL)}
    assert states == {version + offset: "AVAILABLE" for offset in serving}


def predict_request(name, serialized, version=None, label=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label:
        request.model_spec.version_label = label
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
    return request


@pytest.fixture(scope="module")
def labelled(bases, tmp_path_factory):
    root, version = bases
    path = write_config(tmp_path_factory.mktemp("config") / "models.config", root,
                        f"specific {{ versions: {version} versions: {version + 1} }}",
                        [("stable", version), ("canary", version + 1)])
    with ModelServer(model_config_file=str(path), grpc_port=0, rest_port=0) as server:
        yield server, version


def test_labels_over_rest(labelled):
    server, version = labelled
    url = f"{server.rest_url}/v1/models/{MODEL}"
    for label, expected in (("stable", version), ("canary", version + 1)):
        status = requests.get(f"{url}/labels/{label}", timeout=30).json()
        assert [s["version"] for s in status["model_version_status"]] == [str(expected)]
        metadata = requests.get(f"{url}/labels/{label}/metadata", timeout=30).json()
        assert metadata["model_spec"]["version"] == str(expected)
        rows = server.models.current.raw_features.read_csv(CSV, limit=3)
        r = requests.post(f"{url}/labels/{label}:predict", json={"instances": rows}, timeout=30)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 3
    r = requests.post(f"{url}/labels/beta:predict", json={"instances": rows}, timeout=30)
    assert r.status_code == 400 and r.json() == {"error": "Unrecognized servable version label: beta"}
    r = requests.post(f"{url}/versions/{version + 2}:predict", json={"instances": rows}, timeout=30)
    assert r.status_code == 404  # outside the specific policy
    r = requests.post(f"{server.rest_url}/v1/models/other:predict", json={"instances": rows}, timeout=30)
    assert r.status_code == 200  # the second model of the config


def test_labels_over_grpc(labelled):
    server, version = labelled
    serialized = server.models.current.raw_features.serialize(
        server.models.current.raw_features.read_csv(CSV, limit=2))
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for label, expected in (("stable", version), ("canary", version + 1)):
            response = stub.Predict(predict_request(MODEL, serialized, label=label), timeout=30)
            assert response.model_spec.version.value == expected
            assert len(response.outputs["classes"].string_val) == 2
        assert stub.Predict(predict_request("other", serialized), timeout=30).model_spec.name == "other"
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(predict_request(MODEL, serialized, label="beta"), timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


class LabelLoad(Load):
    """Load by label, stable and canary alternately over REST and gRPC; versions seen per label."""

    def __init__(self, server, rows, serialized, clients=8):
        super().__init__(server, serialized, clients=clients)
        self.rows, self.versions = rows, {}

    def _one(self, i, session):
        label = ("stable", "canary")[i % 2]
        if i % 4 < 2:
            r = session.post(f"{self.server.rest_url}/v1/models/{MODEL}/labels/{label}:predict",
                             json={"instances": self.rows}, timeout=30)
            assert r.status_code == 200, r.text
            return None
        response = self._stub.Predict(predict_request(MODEL, self.serialized, label=label), timeout=30)
        with self._lock:
            self.versions.setdefault(label, set()).add(response.model_spec.version.value)
        return None


def test_reload_under_load_moves_labels_and_refuses_a_bad_file(bases, tmp_path, caplog):
    """Canary moves to a new version, then the old stable version leaves the policy, then a bad
    file is refused with its line while the last good config keeps serving: no request fails."""
    caplog.set_level(logging.INFO)
    root, version = bases
    path = write_config(tmp_path / "models.config", root, f"specific {{ versions: {version} versions: {version + 1} }}",
                        [("stable", version), ("canary", version + 1)], other=False)
    with ModelServer(model_config_file=str(path), config_poll_seconds=0.2,
                     grpc_port=0, rest_port=0, poll_seconds=0.2) as server:
        features = server.models.current.raw_features
        rows = features.read_csv(CSV, limit=2)
        with LabelLoad(server, rows, features.serialize(rows), clients=8) as load:
            wait_for(lambda: load.done >= 40)
            write_config(path, root, f"specific {{ versions: {version + 1} versions: {version + 2} }}",
                         [("stable", version + 1), ("canary", version + 2)])
            wait_for(lambda: version + 2 in load.versions.get("canary", ()), timeout=120)
            wait_for(lambda: server.registry.names == [MODEL, "other"])
            assert server.models.serving_versions == [version + 2, version + 1]
            replace_atomically(path, path.read_text().replace("version_labels", "version_label", 1))
            wait_for(lambda: "Model config not reloaded" in caplog.text)
            after = load.done
            wait_for(lambda: load.done >= after + 40)
        assert load.errors == []
        assert load.versions["canary"] >= {version + 2} and load.versions["stable"] >= {version + 1}
        assert server.registry.get(MODEL, label="stable").version == version + 1
        assert server.models.states(MODEL, version)[0].state == "END"
    refused = [r.getMessage() for r in caplog.records if "Model config not reloaded" in r.getMessage()]
    assert len(refused) == 1 and f"{path} line 7: " in refused[0] and 'no field named "version_label"' in refused[0]


def test_command_line_refuses_a_bad_config_file(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('model_config_list {\n  config {\n    name: "m"\n    base_path: "/no/such/dir"\n  }\n}\n')
    result = subprocess.run([sys.executable, "-m", "serving.server", f"--model_config_file={path}",
                             "--port=0", "--rest_api_port=0"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {path} line 2: base_path of model 'm' is not a directory: /no/such/dir")
