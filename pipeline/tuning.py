"""Where the Trainer's hyperparameters come from, as pipeline nodes (called by pipeline.pipeline).

- tuning on (`--tune`, `tuning: enabled: true`): TFX's Tuner searches them on the transformed
  train split, scoring each trial on the eval split, and hands the best to the Trainer;
- `--hparams FILE`: TFX's Importer brings the file in as a HyperParameters artifact (a tuned
  run reproduced without tuning);
- otherwise a resolver hands over the latest HyperParameters artifact of this pipeline (what
  the last tuned or imported run used, so continuous training does not re-tune each span);
  none yet: the Trainer uses the model's defaults.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Tuple

from tfx.dsl.components.common.importer import Importer
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.io import fileio
from tfx.proto import trainer_pb2
from tfx.types import Channel, standard_artifacts

from models.search_space import TUNING_KEY
from pipeline.config import PipelineConfig
from pipeline.resolvers import LatestCacheStrategy

TUNER_FN = "models.tuning.tuner_fn"
TUNER_ID = "Tuner"
IMPORTER_ID = "hparams_importer"
RESOLVER_ID = "latest_hyperparameters_resolver"
HPARAMS_FILE = "best_hyperparameters.txt"  # TFX's name for the Tuner's output file


def staged_hparams(config: PipelineConfig) -> str:
    """The --hparams file copied to a folder of its own named by its content (the Trainer reads a folder
    holding one file; the same content is the same artifact, so a re-run is cached)."""
    with open(config.tuning.hparams, "rb") as f:
        content = f.read()
    folder = os.path.join(config.pipeline_root, "hparams", hashlib.sha256(content).hexdigest()[:16])
    if not fileio.exists(os.path.join(folder, HPARAMS_FILE)):
        fileio.makedirs(folder)
        with fileio.open(os.path.join(folder, HPARAMS_FILE), "wb") as f:
            f.write(content)
    return folder


def hyperparameter_nodes(config: PipelineConfig, transform, schema_gen,
                         custom_config: Dict[str, Any]) -> Tuple[List[Any], Channel]:
    """(the nodes to add before the Trainer, the channel of its `hyperparameters`)."""
    if config.tuning.hparams:
        importer = Importer(source_uri=staged_hparams(config), artifact_type=standard_artifacts.HyperParameters,
                            reimport=False).with_id(IMPORTER_ID)
        return [importer], importer.outputs["result"]
    if config.tuning.enabled:
        from pipeline.tuner_component import RecordingTuner

        tuner = RecordingTuner(
            tuner_fn=TUNER_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=trainer_pb2.TrainArgs(splits=["train"], num_steps=config.train_steps),
            eval_args=trainer_pb2.EvalArgs(splits=["eval"], num_steps=config.eval_steps),
            custom_config={**custom_config, TUNING_KEY: config.tuning.tuner_settings()},
        ).with_id(TUNER_ID)
        return [tuner], tuner.outputs["best_hyperparameters"]
    # TFX's latest-artifact strategy, but none yet is no failure (the Trainer uses the model's defaults).
    latest = Resolver(strategy_class=LatestCacheStrategy,
                      hyperparameters=Channel(type=standard_artifacts.HyperParameters)).with_id(RESOLVER_ID)
    return [latest], latest.outputs["hyperparameters"]
