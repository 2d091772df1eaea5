"""Span ingestions and training runs recorded in a fake store the way TFX records them."""
import json

from pipeline.splits import DEFAULT
from tests.mlmd_fake import CACHED, COMPLETE, FakeTfxStore


def ingest(fake: FakeTfxStore, run, span: int, fingerprint: str = "fp", valid=True, state=COMPLETE, splits=DEFAULT):
    """ExampleGen -> StatisticsGen -> ExampleValidator for one span; returns the Examples artifact.

    valid=None: the run stopped before ExampleValidator. `splits`: ((name, hash buckets), ...) written.
    """
    output_config = json.dumps({"split_config": {"splits": [{"name": n, "hash_buckets": b} for n, b in splits]}})
    examples = fake.execute(run, "CsvExampleGen", state=state, input_fingerprint=fingerprint, span=str(span),
                            output_config=output_config,
                            outputs={"examples": fake.artifact("Examples", f"/p/examples/{span}-{fingerprint}",
                                                               span=span, input_fingerprint=fingerprint,
                                                               split_names=json.dumps([n for n, _ in splits]))}
                            )["examples"]
    if valid is None:
        return examples
    statistics = fake.execute(run, "StatisticsGen", inputs={"examples": examples},
                              outputs={"statistics": fake.artifact("ExampleStatistics", "/p/stats")})["statistics"]
    fake.execute(run, "ExampleValidator", inputs={"statistics": statistics}, outputs={
        "anomalies": fake.artifact("ExampleAnomalies", "/p/anomalies",
                                   blessed={n: 1.0 if valid or n != "train" else 0.0 for n, _ in splits})})
    return examples


def train(fake: FakeTfxStore, run, window, state=COMPLETE, blessed=True, pushed_version=None, previous=None):
    """Transform (on the window of Examples) -> Trainer -> Evaluator -> Pusher; returns the outputs by key.

    state=CACHED re-links `previous`'s outputs, as a cached execution does.
    """
    if state == CACHED:
        outputs = previous
        fake.execute(run, "Transform", state=CACHED, outputs={"transform_graph": outputs["transform_graph"]})
        fake.execute(run, "Trainer", state=CACHED, outputs={"model": outputs["model"]})
        fake.execute(run, "Evaluator", state=CACHED, outputs={"blessing": outputs["blessing"]})
        fake.execute(run, "Pusher", state=CACHED, outputs={"pushed_model": outputs["pushed_model"]})
        return outputs
    outputs = {}
    graph = fake.execute(run, "Transform", inputs={}, outputs={
        "transform_graph": fake.artifact("TransformGraph", "/p/graph")})["transform_graph"]
    _link_inputs(fake, run, "Transform", graph, window)
    outputs["transform_graph"] = graph
    outputs["model"] = fake.execute(run, "Trainer", inputs={"transform_graph": graph}, outputs={
        "model": fake.artifact("Model", "/p/model")})["model"]
    outputs["blessing"] = fake.execute(run, "Evaluator", inputs={"model": outputs["model"]}, outputs={
        "blessing": fake.artifact("ModelBlessing", "/p/blessing", blessed=int(blessed))})["blessing"]
    push = {"pushed": int(pushed_version is not None)}
    if pushed_version is not None:
        push.update(pushed_version=str(pushed_version), pushed_destination=f"/serving/penguins/{pushed_version}")
    outputs["pushed_model"] = fake.execute(
        run, "Pusher", inputs={"model": outputs["model"], "model_blessing": outputs["blessing"]},
        outputs={"pushed_model": fake.artifact("PushedModel", f"/p/pushed/{pushed_version}", **push)})["pushed_model"]
    return outputs


def _link_inputs(fake: FakeTfxStore, run, node_id: str, output, window) -> None:
    """Adds the window's Examples as the inputs of the execution that made `output`."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    execution_id = next(e.execution_id for e in fake.store.get_events_by_artifact_ids([output.id])
                        if e.type == pb.Event.OUTPUT)
    events = []
    for index, examples in enumerate(window):
        event = pb.Event(type=pb.Event.INPUT, artifact_id=examples.id, execution_id=execution_id)
        event.path.steps.add().key = "examples"
        event.path.steps.add().index = index
        events.append(event)
    fake.store.put_events(events)
