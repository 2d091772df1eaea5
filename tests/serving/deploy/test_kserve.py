"""serving/deploy/kserve/inference_service.yaml: KServe serves what a cluster run pushes, under the local model name."""
import os
import re

import yaml

import kubeflow_runner
from pipeline.config import DEFAULT_DATASET, REPO_ROOT, DatasetConfig

MANIFEST = os.path.join(REPO_ROOT, "serving", "deploy", "kserve", "inference_service.yaml")


def load():
    with open(MANIFEST) as f:
        return yaml.safe_load(f)


def test_is_a_kserve_tensorflow_inference_service():
    manifest = load()
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1"
    assert manifest["kind"] == "InferenceService"
    assert manifest["spec"]["predictor"]["model"]["modelFormat"] == {"name": "tensorflow"}
    assert manifest["spec"]["predictor"]["model"]["protocolVersion"] == "v1"


def test_rest_path_and_storage_match_what_the_pipeline_pushes():
    model_name = DatasetConfig.load(DEFAULT_DATASET).model_name
    manifest = load()
    # KServe names the TF Serving model after the InferenceService: /v1/models/<name>:predict.
    assert manifest["metadata"]["name"] == model_name
    # The Pusher writes <serving dir>/<model name>/<version>/, the base path TF Serving watches.
    storage = manifest["spec"]["predictor"]["model"]["storageUri"]
    assert storage == f"{kubeflow_runner.PLACEHOLDERS['--serving-dir']}/{model_name}"


def test_tf_serving_release_matches_the_pinned_serving_api():
    with open(os.path.join(REPO_ROOT, "setup.py")) as f:
        pin = re.search(r'"tensorflow-serving-api==([^"]+)"', f.read()).group(1)
    assert load()["spec"]["predictor"]["model"]["runtimeVersion"] == pin
