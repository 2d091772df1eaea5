"""kubeflow_runner.py: the compiled Kubeflow/Vertex spec is the local pipeline, on the cluster's terms.

Everything here is offline: compiling needs no cluster, and the submit paths are checked up to the
point where they would need a real endpoint or real credentials.
"""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
from pipeline import preflight
from pipeline.config import DEFAULT_DATASET as PENGUINS, load_config

IMAGE = "europe-docker.pkg.dev/acme/ml/tfx-pipeline-template:1.2.3"
ROOT = "gs://acme-ml/penguins/pipeline_root"
SERVING = "s3://acme-serving/models"
DATA = "gs://acme-ml/penguins/data"
RESOLVER = "latest_blessed_model_resolver"
RESOLVER_TASKS = (f"{RESOLVER}-model-blessing-resolver", f"{RESOLVER}-model-resolver")
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


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return compile_spec(tmp_path_factory.mktemp("kfp"), CONFIGURED)[0]


@pytest.fixture(scope="module")
def local_pipeline():
    from pipeline.pipeline import create_pipeline

    return create_pipeline(preflight.check(load_config(None, {"dataset": PENGUINS}))[0])


def tasks(spec):
    return spec["root"]["dag"]["tasks"]


def executor(spec, task):
    label = spec["components"][tasks(spec)[task]["componentRef"]["name"]]["executorLabel"]
    return spec["deploymentSpec"]["executors"][label]


def node_of(task):
    """The local node a task comes from: the latest-blessed-model resolver compiles to two tasks."""
    return RESOLVER if task in RESOLVER_TASKS else task


def parameter(spec, task, name):
    return tasks(spec)[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]["stringValue"]


def test_every_local_component_is_a_task(spec, local_pipeline):
    local_ids = {c.id for c in local_pipeline.components}
    assert {node_of(t) for t in tasks(spec)} == local_ids
    assert set(RESOLVER_TASKS) <= set(tasks(spec))


def test_every_task_runs_the_image_with_the_tfx_v2_entrypoint(spec, local_pipeline):
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import KUBEFLOW_TFX_CMD
    from tfx.utils import name_utils

    for component in local_pipeline.components:
        if component.id == RESOLVER:
            for task in RESOLVER_TASKS:  # resolvers are metadata queries, not containers
                assert set(executor(spec, task)) == {"resolver"}
            continue
        container = executor(spec, component.id)["container"]
        assert container["image"] == IMAGE
        assert container["command"] == list(KUBEFLOW_TFX_CMD)
        class_path = container["args"][container["args"].index("--executor_class_path") + 1]
        assert class_path == name_utils.get_full_name(component.executor_spec.executor_class)


def test_configured_values_reach_the_tasks(spec):
    assert spec["defaultPipelineRoot"] == ROOT
    assert "inputDefinitions" not in spec["root"], "no runtime parameter should be left for the submitter to fill"
    assert parameter(spec, "CsvExampleGen", "input_base") == DATA
    assert parameter(spec, "ImportSchemaGen", "schema_file") == f"{DATA}/schema.pbtxt"
    assert json.loads(parameter(spec, "Trainer", "train_args")) == {"num_steps": 123}
    assert json.loads(parameter(spec, "Trainer", "eval_args")) == {"num_steps": 7}
    destination = json.loads(parameter(spec, "Pusher", "push_destination"))
    assert destination == {"filesystem": {"base_directory": f"{SERVING}/penguins"}}
    container_tasks = [t for t in tasks(spec) if t not in RESOLVER_TASKS]
    assert all(tasks(spec)[t]["cachingOptions"] == {"enableCache": True} for t in container_tasks)


def test_no_cache_turns_caching_off(tmp_path):
    spec, _ = compile_spec(tmp_path, [*CONFIGURED, "--no-cache"])
    assert not any("cachingOptions" in t for t in tasks(spec).values())


def test_yaml_and_json_load_with_the_kfp_pipeline_spec_types(tmp_path):
    from kfp.client.client import _extract_pipeline_yaml

    _, from_yaml = compile_spec(tmp_path, CONFIGURED, "p.yaml")
    parsed = json_format.ParseDict(from_yaml, pipeline_spec_pb2.PipelineSpec())
    assert parsed.default_pipeline_root == ROOT
    # What kfp.Client itself does with the file before uploading it.
    assert _extract_pipeline_yaml(str(tmp_path / "p.yaml")).pipeline_spec == parsed

    _, from_json = compile_spec(tmp_path, CONFIGURED, "p.json")
    job = json_format.ParseDict(from_json, pipeline_spec_pb2.PipelineJob())
    assert job.runtime_config.gcs_output_directory == ROOT
    assert json_format.ParseDict(from_json["pipelineSpec"], pipeline_spec_pb2.PipelineSpec()) == parsed


def test_vertex_reads_the_pipeline_root_from_the_yaml(spec):
    from google.cloud.aiplatform.utils.pipeline_utils import PipelineRuntimeConfigBuilder

    builder = PipelineRuntimeConfigBuilder.from_job_spec_json({"pipelineSpec": spec, "runtimeConfig": {}})
    builder.update_pipeline_root(spec["defaultPipelineRoot"])
    assert builder.build()["gcsOutputDirectory"] == ROOT


def evaluate_condition(condition, blessed):
    """Evaluates the (CEL) trigger condition the way the KFP driver sees the anomalies artifact."""
    from tfx.orchestration.kubeflow.v2.container.kubeflow_v2_entrypoint_utils import to_runtime_artifact
    from tfx.types import standard_artifacts
    from types import SimpleNamespace

    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.set_json_value_custom_property("blessed", blessed)
    metadata = json_format.MessageToDict(to_runtime_artifact(anomalies, {}).metadata)
    inputs = SimpleNamespace(artifacts={"_ExampleValidator.anomalies": SimpleNamespace(
        artifacts=[SimpleNamespace(metadata=metadata)])})
    # This condition uses only the CEL subset that is also Python, apart from '&&'.
    return eval(condition.replace("&&", "and"), {}, {"inputs": inputs})


def test_training_runs_only_when_both_splits_are_free_of_anomalies(spec, local_pipeline):
    conditional = {t for t, task in tasks(spec).items() if "triggerPolicy" in task}
    assert conditional == {"Transform", "Trainer", "Evaluator", "Pusher"}
    for task in conditional:
        condition = tasks(spec)[task]["triggerPolicy"]["condition"]
        assert evaluate_condition(condition, {"train": 1, "eval": 1}) is True
        assert evaluate_condition(condition, {"train": 1, "eval": 0}) is False
        assert evaluate_condition(condition, {"train": 0, "eval": 1}) is False


def test_tfx_alone_would_compile_a_condition_that_cannot_hold(local_pipeline):
    """Why kubeflow_runner keeps string keys: TFX 1.16 indexes the split map with [0].

    When this fails, TFX has fixed placeholder_to_cel and the workaround can go.
    """
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

    from pipeline.kubeflow import project_resolvers

    assert compiler_utils.placeholder_to_cel.__module__ == compiler_utils.__name__, "the patch must not leak"
    with project_resolvers():  # the project's resolvers compile; the condition is TFX's alone
        job = KubeflowV2DagRunner(KubeflowV2DagRunnerConfig(default_image=IMAGE)).run(local_pipeline,
                                                                                      write_out=False)
    condition = job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["triggerPolicy"]["condition"]
    assert "['train']" not in condition
    with pytest.raises(KeyError):
        evaluate_condition(condition, {"train": 1, "eval": 1})


# ---- parity: the local pipeline (TFX IR) and the Kubeflow spec have the same components and wiring ----

def local_graph(pipeline):
    """(data edges, upstream nodes, conditional nodes) of the pipeline as LocalDagRunner runs it."""
    from tfx.dsl.compiler.compiler import Compiler

    ir = Compiler().compile(pipeline)
    edges, upstream, conditional = set(), {}, set()
    for node in ir.nodes:
        node = node.pipeline_node
        name = node.node_info.id
        upstream[name] = set(node.upstream_nodes)
        if node.inputs.conditionals:
            conditional.add(name)
        for key, spec in node.inputs.inputs.items():
            edges |= {(ch.producer_node_query.id, ch.output_key, name, key)
                      for ch in spec.channels if ch.producer_node_query.id}
    return edges, upstream, conditional


def kubeflow_graph(spec):
    edges, upstream, conditional = set(), {}, set()
    for name, task in tasks(spec).items():
        node = node_of(name)
        upstream.setdefault(node, set()).update(node_of(t) for t in task.get("dependentTasks", ()))
        if "triggerPolicy" in task:
            conditional.add(node)
        for key, artifact in task.get("inputs", {}).get("artifacts", {}).items():
            producer = artifact["taskOutputArtifact"]
            if node_of(producer["producerTask"]) != node:  # skip the resolver's internal hop
                edges.add((node_of(producer["producerTask"]), producer["outputArtifactKey"], node, key))
    return edges, upstream, conditional


@pytest.mark.parametrize("schema_mode", ["curated", "inferred"])
def test_local_and_kubeflow_pipelines_have_the_same_components_and_wiring(tmp_path, schema_mode):
    from pipeline.pipeline import create_pipeline

    local = create_pipeline(preflight.check(load_config(None, {"dataset": PENGUINS, "schema_mode": schema_mode}))[0])
    spec, _ = compile_spec(tmp_path, [*CONFIGURED, "--schema-mode", schema_mode])
    local_edges, local_upstream, local_conditional = local_graph(local)
    kfp_edges, kfp_upstream, kfp_conditional = kubeflow_graph(spec)

    # The one known difference: on Kubeflow the resolver is a metadata query, not a container, so
    # it is neither gated by nor waits for ExampleValidator. Harmless: it only reads.
    if schema_mode == "curated":
        gate = ("ExampleValidator", "anomalies", RESOLVER, "_ExampleValidator.anomalies")
        local_edges.remove(gate)
        local_upstream[RESOLVER].remove("ExampleValidator")
        local_conditional.remove(RESOLVER)
    assert kfp_edges == local_edges
    assert kfp_upstream == local_upstream
    assert kfp_conditional == local_conditional
    assert bool(kfp_conditional) == (schema_mode == "curated")


# ---- Beam ----

def beam_components(pipeline):
    from tfx.dsl.components.base.executor_spec import BeamExecutorSpec

    return [c.id for c in pipeline.components if isinstance(c.executor_spec, BeamExecutorSpec)]


@pytest.mark.parametrize("beam_args", [DATAFLOW, FLINK, SPARK], ids=["dataflow", "flink", "spark"])
def test_distributed_beam_runner_reaches_the_beam_components(tmp_path, local_pipeline, beam_args):
    spec, _ = compile_spec(tmp_path, [*CONFIGURED, *beam_flags(beam_args)])
    powered = beam_components(local_pipeline)
    assert {"CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"} <= set(powered)
    for component in powered:
        args = executor(spec, component)["container"]["args"]
        assert args[-len(beam_args):] == beam_args
        assert not any(a.startswith("--direct_") for a in args), "the direct runner's flags must not leak in"
    driver = executor(spec, "CsvExampleGen")["container"]["lifecycle"]["preCacheCheck"]["args"]
    assert driver[-len(beam_args):] == beam_args


def test_portable_mode_needs_the_cluster_s_job_service(tmp_path, capsys):
    assert kubeflow_runner.main([*CONFIGURED, "--beam-mode", "portable", "--output", str(tmp_path / "p.yaml")]) == 2
    assert "pass the cluster's with --beam-arg=--job_endpoint=HOST:PORT" in capsys.readouterr().err
    spec, _ = compile_spec(tmp_path, [*CONFIGURED, "--beam-mode", "portable",
                                      "--beam-arg=--job_endpoint=beam-job-server:8099"])
    args = executor(spec, "Transform")["container"]["args"]
    assert "--runner=PortableRunner" in args and args[-1] == "--job_endpoint=beam-job-server:8099"


def test_dataflow_without_a_worker_image_is_pointed_at_the_pipeline_image(tmp_path, capsys):
    compile_spec(tmp_path, [*CONFIGURED, *beam_flags(DATAFLOW[:-1])])
    assert f"add --beam-arg=--sdk_container_image={IMAGE}" in capsys.readouterr().out
    compile_spec(tmp_path, [*CONFIGURED, *beam_flags(DATAFLOW)])
    assert "note: Dataflow workers" not in capsys.readouterr().out


def test_local_default_stays_the_in_memory_direct_runner(spec, local_pipeline):
    assert local_pipeline.beam_pipeline_args == ["--direct_running_mode=in_memory"]
    for component in beam_components(local_pipeline):
        assert executor(spec, component)["container"]["args"][-1] == "--direct_running_mode=in_memory"


# ---- the command line ----

def test_without_options_it_compiles_with_placeholders_and_names_them(tmp_path, capsys):
    spec, _ = compile_spec(tmp_path, [])
    out = capsys.readouterr().out
    assert "placeholders a real run must set: --image, --pipeline-root, --serving-dir" in out
    assert spec["defaultPipelineRoot"] == kubeflow_runner.PLACEHOLDERS["--pipeline-root"]
    assert executor(spec, "Trainer")["container"]["image"] == kubeflow_runner.PLACEHOLDERS["--image"]
    assert parameter(spec, "CsvExampleGen", "input_base") == "/pipeline/data/penguins", "the data inside the image"


def test_config_file_sets_storage_and_flags_override_it(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump({"pipeline_root_uri": "gs://from-file/root", "serving_dir_uri": "gs://f/s",
                                      "train_steps": 11}))
    spec, _ = compile_spec(tmp_path, ["--config", str(config), "--image", IMAGE, "--train-steps", "22"])
    assert spec["defaultPipelineRoot"] == "gs://from-file/root"
    assert json.loads(parameter(spec, "Trainer", "train_args")) == {"num_steps": 22}
    assert "gs://f/s/penguins" in parameter(spec, "Pusher", "push_destination")


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


NO_GOOGLE_CREDENTIALS = {"GOOGLE_APPLICATION_CREDENTIALS": None, "NO_GCE_CHECK": "true"}
SUBMITTABLE = ["--image", IMAGE, "--pipeline-root", ROOT, "--serving-dir", "gs://acme/serving"]


@pytest.mark.parametrize("argv, env, message", [
    (["--output-dir", "x"], {}, "--output-dir is for local runs"),
    (["--output", "spec.txt"], {}, "use a .json/.yaml/.yml file name"),
    (["--pipeline-root", "outputs/root"], {}, "--pipeline-root must be on object storage"),
    (["--serving-dir", "/tmp/models"], {}, "--serving-dir must be on object storage"),
    (["--data-uri", "data/penguins"], {}, "--data-uri must be an absolute path in the image"),
    (["--submit", "kfp", "--endpoint", "http://kfp"], {}, "cannot submit with placeholders: set --image"),
    ([*SUBMITTABLE, "--submit", "kfp"], {"KF_PIPELINES_ENDPOINT": None}, "--submit kfp needs --endpoint"),
    ([*SUBMITTABLE, "--submit", "kfp", "--endpoint", "CLOSED"], {}, "cannot reach Kubeflow Pipelines at"),
    ([*SUBMITTABLE, "--submit", "vertex", "--project", "p"], {}, "--submit vertex needs --region"),
    (["--image", IMAGE, "--pipeline-root", "s3://b/root", "--serving-dir", "s3://b/s", "--submit", "vertex",
      "--region", "europe-west4"], {}, "--pipeline-root must start with gs://"),
    ([*SUBMITTABLE, "--submit", "vertex", "--region", "europe-west4"], NO_GOOGLE_CREDENTIALS,
     "no Google Cloud credentials"),
])
def test_bad_input_gets_a_one_line_error_before_compiling(tmp_path, monkeypatch, capsys, argv, env, message):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login from this machine
    for name, value in env.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    argv = [closed_port_url() if a == "CLOSED" else a for a in argv]
    output = tmp_path / "spec.yaml"
    argv = argv if "--output" in argv else [*argv, "--output", str(output)]
    assert kubeflow_runner.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not output.exists()


def test_kfp_submit_needs_a_yaml_spec(tmp_path, capsys):
    argv = [*SUBMITTABLE, "--submit", "kfp", "--endpoint", closed_port_url(), "--output", str(tmp_path / "p.json")]
    assert kubeflow_runner.main(argv) == 2
    assert "kfp.Client uploads YAML pipeline specs only" in capsys.readouterr().err


def test_dataset_outside_the_project_needs_a_data_uri(tmp_path, capsys):
    import shutil

    dataset = shutil.copytree(PENGUINS, tmp_path / "mydata")
    assert kubeflow_runner.main(["--dataset", str(dataset), "--output", str(tmp_path / "p.yaml")]) == 2
    assert "is outside the project, so it is not in the image" in capsys.readouterr().err
    spec, _ = compile_spec(tmp_path, ["--dataset", str(dataset), "--data-uri", "gs://b/mydata/"])
    assert parameter(spec, "CsvExampleGen", "input_base") == "gs://b/mydata"


def test_pipeline_name_must_suit_kubeflow(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("pipeline_name: My_Pipeline\n")
    assert kubeflow_runner.main(["--config", str(config), "--output", str(tmp_path / "p.yaml")]) == 2
    assert "pipeline name 'My_Pipeline' is not valid on Kubeflow/Vertex" in capsys.readouterr().err


def test_direct_runner_mode_is_chosen_from_the_local_copy_of_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.config.IN_MEMORY_MAX_BYTES", 0)  # as if the data were large
    spec, _ = compile_spec(tmp_path, CONFIGURED)
    assert "--direct_running_mode=multi_processing" in executor(spec, "Transform")["container"]["args"]


class FakeKfpApi(BaseHTTPRequestHandler):
    """Just enough of the Kubeflow Pipelines v2beta1 REST API for kfp.Client to start a run."""

    runs = []

    def _reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/apis/v2beta1/healthz"):
            return self._reply({"multi_user": False})
        if self.path.startswith("/apis/v2beta1/experiments"):
            return self._reply({"experiments": [{"experiment_id": "exp-1", "display_name": "Default"}]})
        self.send_error(404)

    def do_POST(self):
        if self.path.startswith("/apis/v2beta1/runs"):
            self.runs.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            return self._reply({"run_id": "run-1", "experiment_id": "exp-1"})
        self.send_error(404)

    def log_message(self, *args):
        pass


def test_kfp_submit_uploads_the_compiled_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client keeps a context file there
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKfpApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        spec, _ = compile_spec(tmp_path, [*SUBMITTABLE, "--submit", "kfp", "--endpoint", endpoint])
    finally:
        server.shutdown()
    (run,) = FakeKfpApi.runs
    assert run["experiment_id"] == "exp-1"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "penguins-pipeline"
    assert run["pipeline_spec"]["defaultPipelineRoot"] == ROOT
    assert run["pipeline_spec"]["root"] == spec["root"]
    assert f"submitted run run-1 to {endpoint}" in capsys.readouterr().out


def test_vertex_submit_builds_the_pipeline_job_from_the_compiled_spec(tmp_path, monkeypatch, capsys):
    """Offline up to the API call: the real PipelineJob parses the spec; only submit() is replaced."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    submitted = []
    monkeypatch.setattr(google.auth, "default", lambda: (AnonymousCredentials(), "acme"))
    monkeypatch.setattr(aiplatform.PipelineJob, "submit", lambda job: submitted.append(job))
    monkeypatch.setattr(aiplatform.PipelineJob, "resource_name", "projects/acme/pipelineJobs/1")
    spec, _ = compile_spec(tmp_path, [*SUBMITTABLE, "--submit", "vertex", "--region", "europe-west4"])
    (job,) = submitted
    resource = job._gca_resource
    assert resource.runtime_config.gcs_output_directory == ROOT
    assert resource.display_name == "penguins-pipeline"
    assert job.location == "europe-west4" and job.project == "acme"
    assert type(resource).to_dict(resource)["pipeline_spec"]["root"] == spec["root"]
    assert "submitted projects/acme/pipelineJobs/1" in capsys.readouterr().out


# ---- a dataset of spans ----

@pytest.fixture(scope="module")
def spans_dataset(tmp_path_factory):
    """Two spans of the bundled penguins, a window of 2 (the local copy the runner reads)."""
    import shutil

    folder = tmp_path_factory.mktemp("spans")
    for name in ("dataset.yaml", "schema.pbtxt"):
        shutil.copy(f"{PENGUINS}/{name}", folder)
    (folder / "dataset.yaml").write_text((folder / "dataset.yaml").read_text() + "span_window: 2\n")
    lines = open(f"{PENGUINS}/penguins.csv").read().splitlines()
    for span in (1, 2):
        (folder / f"span-{span}").mkdir()
        (folder / f"span-{span}" / "data.csv").write_text("\n".join([lines[0]] + lines[span::2]) + "\n")
    return folder


SPAN_RESOLVERS = ("span_window_resolver", "transform_cache_resolver")


def test_spans_compile_with_the_span_pattern_as_a_parameter_and_the_window_as_a_query(tmp_path, spans_dataset):
    spec, job = compile_spec(tmp_path, [*CONFIGURED, "--dataset", str(spans_dataset), "--warm-start"], "p.json")
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert json.loads(parameters["input_config"]["defaultValue"])["splits"][0]["pattern"] == "span-{SPAN}/*.csv"
    assert parameters["range_config"]["defaultValue"] == ""  # empty: ExampleGen reads the newest span
    assert job["runtimeConfig"]["parameters"]["range_config"] == {"stringValue": ""}
    example_gen = tasks(spec)["CsvExampleGen"]["inputs"]["parameters"]
    assert example_gen["input_config"] == {"componentInputParameter": "input_config"}
    assert example_gen["range_config"] == {"componentInputParameter": "range_config"}
    [query] = executor(spec, "span_window_resolver")["resolver"]["outputArtifactQueries"].values()
    assert query["limit"] == 2 and "metadata.span.number_value>=1" in query["filter"]
    cache = executor(spec, "transform_cache_resolver")["resolver"]["outputArtifactQueries"]["cache"]
    assert cache["filter"].startswith('schema_title="tfx.TransformCache"')
    for consumer in ("Transform", "Evaluator"):
        examples = tasks(spec)[consumer]["inputs"]["artifacts"]["examples"]["taskOutputArtifact"]
        assert examples["producerTask"] == "span_window_resolver"
    base_model = tasks(spec)["Trainer"]["inputs"]["artifacts"]["base_model"]["taskOutputArtifact"]
    assert base_model["producerTask"] == f"{RESOLVER}-model-resolver"
    json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())  # KFP's own types accept it


def test_spans_local_and_kubeflow_pipelines_have_the_same_wiring(tmp_path, spans_dataset):
    from pipeline.pipeline import create_pipeline

    local = create_pipeline(preflight.check(load_config(None, {"dataset": str(spans_dataset)}))[0])
    spec, _ = compile_spec(tmp_path, [*CONFIGURED, "--dataset", str(spans_dataset)])
    local_edges, local_upstream, local_conditional = local_graph(local)
    kfp_edges, kfp_upstream, kfp_conditional = kubeflow_graph(spec)
    # As for the model resolver: on Kubeflow a resolver is a metadata query, neither gated nor waiting.
    for resolver in (RESOLVER, *SPAN_RESOLVERS):
        local_edges = {e for e in local_edges if e[2] != resolver}
        local_upstream[resolver] = set()
        local_conditional.discard(resolver)
    assert kfp_edges == local_edges
    assert kfp_upstream == local_upstream
    assert kfp_conditional == local_conditional
