"""The compiled Kubeflow spec as the tests read it: compiled through the CLI, its tasks looked up by name."""
import json

import yaml

import kubeflow_runner

IMAGE = "europe-docker.pkg.dev/acme/ml/tfx-pipeline-template:1.2.3"
ROOT = "gs://acme-ml/penguins/pipeline_root"
SERVING = "s3://acme-serving/models"
DATA = "gs://acme-ml/penguins/data"
RESOLVER = "latest_blessed_model_resolver"
HPARAMS_RESOLVER = "latest_hyperparameters_resolver"  # pipeline/tuning.py: the latest tuned hyperparameters
MODEL_RESOLVER_TASKS = (f"{RESOLVER}-model-blessing-resolver", f"{RESOLVER}-model-resolver")
RESOLVER_TASKS = MODEL_RESOLVER_TASKS + (HPARAMS_RESOLVER,)  # metadata queries, not containers
CONFIGURED = ["--image", IMAGE, "--pipeline-root", ROOT, "--serving-dir", SERVING, "--data-uri", DATA,
              "--train-steps", "123", "--eval-steps", "7"]
DATAFLOW = ["--runner=DataflowRunner", "--project=acme", "--region=europe-west4",
            "--temp_location=gs://acme-ml/tmp", f"--sdk_container_image={IMAGE}"]
FLINK = ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--environment_type=EXTERNAL",
         "--environment_config=localhost:50000"]
SPARK = ["--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077", "--environment_type=EXTERNAL",
         "--environment_config=localhost:50000"]



def compile_spec(tmp_path, argv, name="pipeline.yaml"):
    """Runs the CLI; returns (the PipelineSpec as a dict, the whole file as loaded)."""
    path = tmp_path / name
    assert kubeflow_runner.main([*argv, "--output", str(path)]) == 0
    loaded = json.loads(path.read_text()) if name.endswith(".json") else yaml.safe_load(path.read_text())
    return (loaded["pipelineSpec"] if name.endswith(".json") else loaded), loaded


def beam_flags(args):
    return [f"--beam-arg={a}" for a in args]



def tasks(spec):
    return spec["root"]["dag"]["tasks"]


def executor(spec, task):
    label = spec["components"][tasks(spec)[task]["componentRef"]["name"]]["executorLabel"]
    return spec["deploymentSpec"]["executors"][label]


def node_of(task):
    """The local node a task comes from: the latest-blessed-model resolver compiles to two tasks."""
    return RESOLVER if task in MODEL_RESOLVER_TASKS else task


def parameter(spec, task, name):
    return tasks(spec)[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]["stringValue"]

