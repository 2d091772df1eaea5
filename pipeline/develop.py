"""The pipeline's own components, one at a time, for notebooks/develop.ipynb (TFX's InteractiveContext).

The components come from `create_pipeline` with the same configuration as a run, so the
notebook develops exactly what `local_runner.py` runs; nothing here wires a component.
The InteractiveContext keeps its artifacts and ML Metadata under `<output>/develop/`, so
the runs' history (`inspect`, the report) shows pipeline runs only.
"""
from __future__ import annotations

import os
from typing import Dict

from pipeline.config import PipelineConfig
from runs.layout import OutputLayout


def components(config: PipelineConfig) -> Dict[str, object]:
    """The pipeline's nodes by id, in the order it runs them."""
    from pipeline.pipeline import create_pipeline

    return {node.id: node for node in create_pipeline(config).components}


def interactive_context(config: PipelineConfig):
    """TFX's InteractiveContext on `<output>/develop/` (its own pipeline root and SQLite store)."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration.experimental.interactive.interactive_context import InteractiveContext

    layout = OutputLayout(config.layout.develop_dir)  # an output folder of its own, laid out like any other
    os.makedirs(layout.output_dir, exist_ok=True)
    store = metadata_store_pb2.ConnectionConfig()
    store.sqlite.filename_uri = layout.metadata_sqlite
    store.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return InteractiveContext(pipeline_name=config.pipeline_name, pipeline_root=layout.pipeline_root,
                              metadata_connection_config=store, beam_pipeline_args=config.beam_pipeline_args())


def rebuilt_from(config: PipelineConfig, done: Dict[str, object], node_id: str) -> Dict[str, object]:
    """The pipeline's nodes for a changed config, the nodes before `node_id` holding the outputs they
    produced in `done` (so `node_id` and what follows run again, the rest is reused)."""
    fresh = components(config)
    for node in list(fresh.values())[:list(fresh).index(node_id)]:
        for key, channel in node.outputs.items():
            channel.set_artifacts(done[node.id].outputs[key].get())
    return fresh
