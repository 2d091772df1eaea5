"""kubeflow_runner.py: the compiled Kubeflow/Vertex spec is the local pipeline, on the cluster's terms.

Everything here is offline: compiling needs no cluster. Bad input and the submit paths are in
tests/test_kubeflow_submit.py.
"""
import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
from pipeline import preflight
from pipeline.config import DEFAULT_DATASET as PENGUINS, load_config
from tests.kubeflow_spec import (CONFIGURED, DATA, DATAFLOW, FLINK, HPARAMS_RESOLVER, IMAGE, RESOLVER,
                                  RESOLVER_TASKS, ROOT, SERVING, SPARK, beam_flags, compile_spec, executor, node_of,
                                  parameter, tasks)


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return compile_spec(tmp_path_factory.mktemp("kfp"), CONFIGURED)[0]


@pytest.fixture(scope="module")
def local_pipeline():
    from pipeline.pipeline import create_pipeline

    return create_pipeline(preflight.check(load_config(None, {"dataset": PENGUINS}))[0])


def test_every_local_component_is_a_task(spec, local_pipeline):
    local_ids = {c.id for c in local_pipeline.components}
    assert {node_of(t) for t in tasks(spec)} == local_ids
    assert set(RESOLVER_TASKS) <= set(tasks(spec))


def test_every_task_runs_the_image_with_the_tfx_v2_entrypoint(spec, local_pipeline):
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import KUBEFLOW_TFX_CMD
    from tfx.utils import name_utils

    for component in local_pipeline.components:
        if component.id in (RESOLVER, HPARAMS_RESOLVER):
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
    assert json.loads(parameter(spec, "Trainer", "train_args")) == {"num_steps": 123, "splits": ["train"]}
    assert json.loads(parameter(spec, "Trainer", "eval_args")) == {"num_steps": 7, "splits": ["eval"]}
    assert json.loads(parameter(spec, "Evaluator", "example_splits")) == ["test"]
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


def test_training_runs_only_when_every_split_is_free_of_anomalies(spec, local_pipeline):
    conditional = {t for t, task in tasks(spec).items() if "triggerPolicy" in task}
    assert conditional == {"Transform", "Trainer", "Evaluator", "Pusher"}
    clean = {"train": 1, "eval": 1, "test": 1}
    for task in conditional:
        condition = tasks(spec)[task]["triggerPolicy"]["condition"]
        assert evaluate_condition(condition, clean) is True
        for split in clean:
            assert evaluate_condition(condition, {**clean, split: 0}) is False, split


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
        evaluate_condition(condition, {"train": 1, "eval": 1, "test": 1})


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

    # The one known difference: on Kubeflow a resolver is a metadata query, not a container, so
    # it is neither gated by nor waits for ExampleValidator. Harmless: it only reads.
    if schema_mode == "curated":
        for resolver in (RESOLVER, HPARAMS_RESOLVER):
            local_edges.remove(("ExampleValidator", "anomalies", resolver, "_ExampleValidator.anomalies"))
            local_upstream[resolver].remove("ExampleValidator")
            local_conditional.remove(resolver)
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
    assert json.loads(parameter(spec, "Trainer", "train_args")) == {"num_steps": 22, "splits": ["train"]}
    assert "gs://f/s/penguins" in parameter(spec, "Pusher", "push_destination")


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
    for resolver in (RESOLVER, HPARAMS_RESOLVER, *SPAN_RESOLVERS):
        local_edges = {e for e in local_edges if e[2] != resolver}
        local_upstream[resolver] = set()
        local_conditional.discard(resolver)
    assert kfp_edges == local_edges
    assert kfp_upstream == local_upstream
    assert kfp_conditional == local_conditional
