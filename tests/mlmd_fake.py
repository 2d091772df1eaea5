"""A small ML Metadata store shaped like the ones TFX writes, for fast, exact tests.

Pipeline, run and node contexts, executions with their states, and artifacts linked
by keyed events, exactly as TFX records them; no TensorFlow, no pipeline run.
"""
import subprocess
import sys
from typing import Dict, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

COMPLETE, CACHED, FAILED, RUNNING = (pb.Execution.COMPLETE, pb.Execution.CACHED, pb.Execution.FAILED,
                                     pb.Execution.RUNNING)


def dead_pid() -> int:
    """The id of a process of this machine that has exited (a killed runner's, say)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


class FakeTfxStore:
    def __init__(self, sqlite_path: str, pipeline_name: str = "fake-pipeline"):
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = sqlite_path
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self.pipeline_name = pipeline_name
        self._context_types = {name: self.store.put_context_type(pb.ContextType(name=name))
                               for name in ("pipeline", "pipeline_run", "node")}
        self._pipeline = self._context("pipeline", pipeline_name)
        self._nodes: Dict[str, pb.Context] = {}

    def _context(self, type_name: str, name: str) -> pb.Context:
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:  # a second fake on the same store
            return existing
        [context_id] = self.store.put_contexts([pb.Context(type_id=self._context_types[type_name], name=name)])
        return self.store.get_contexts_by_id([context_id])[0]

    def run(self, run_id: str) -> pb.Context:
        context = self._context("pipeline_run", run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=context.id, parent_id=self._pipeline.id)])
        return context

    def node(self, node_id: str) -> pb.Context:
        if node_id not in self._nodes:
            self._nodes[node_id] = self._context("node", f"{self.pipeline_name}.{node_id}")
        return self._nodes[node_id]

    def artifact(self, type_name: str, uri: str, **custom) -> pb.Artifact:
        artifact = pb.Artifact(type_id=self.store.put_artifact_type(pb.ArtifactType(name=type_name)), uri=uri)
        for name, value in custom.items():
            if isinstance(value, dict):  # e.g. ExampleAnomalies' blessed: {split: 0 or 1}
                artifact.custom_properties[name].struct_value.update(value)
                continue
            field = {int: "int_value", float: "double_value"}.get(type(value), "string_value")
            setattr(artifact.custom_properties[name], field, value)
        return artifact

    def execute(self, run: Optional[pb.Context], node_id: str, state=COMPLETE, inputs=None, outputs=None,
                **properties) -> Dict[str, pb.Artifact]:
        """Records one execution; outputs are new (no id) or existing artifacts (a cached re-link)."""
        execution = pb.Execution(type_id=self.store.put_execution_type(pb.ExecutionType(name=f"tfx.{node_id}")),
                                 last_known_state=state)
        for name, value in properties.items():
            execution.custom_properties[name].string_value = value
        pairs, keys = [], []
        for event_type, artifacts in ((pb.Event.INPUT, inputs or {}), (pb.Event.OUTPUT, outputs or {})):
            for key, artifact in artifacts.items():
                event = pb.Event(type=event_type)
                event.path.steps.add().key = key
                event.path.steps.add().index = 0
                pairs.append((artifact, event))
                keys.append((event_type, key))
        contexts = [self._pipeline, self.node(node_id)] + ([run] if run is not None else [])
        _, artifact_ids, _ = self.store.put_execution(execution, pairs, contexts)
        by_id = {a.id: a for a in self.store.get_artifacts_by_id(artifact_ids)}
        stored = {key: by_id[artifact_id] for key, artifact_id in zip(keys, artifact_ids)}
        return {key: stored[(pb.Event.OUTPUT, key)] for key in (outputs or {})}
