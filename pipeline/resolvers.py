"""The pipeline's resolvers for continuous training, as TFX ResolverStrategy classes.

- `SpanWindowStrategy`: the window of spans Transform, the Trainer and the Evaluator
  read. TFX's SpanRangeStrategy takes every artifact in the range, so a span
  ingested twice (its files were corrected) would be read twice, and a span whose
  data failed validation would be trained on; this keeps the newest ingestion of
  each span and, with a curated schema, only spans that passed ExampleValidator.
  It also leaves out Examples without the splits the pipeline reads (written before
  the test split existed): the Evaluator would fail on them, or judge on no test rows.
  The run planner (pipeline/span_plan.py) ingests such spans again.
- `ServingModelStrategy`: the model now being served, as the Evaluator's baseline and
  the warm start's base. That is TFX's latest blessed model, unless a rollback
  (serving/rollback.py) made an older one serve again; comparing candidates with the
  model that was rolled back would bless its equals.

Both run in the local orchestrator with the store at hand. The Kubeflow V2 compiler
knows only TFX's own strategies; pipeline/kubeflow.py compiles these to its metadata
queries.
"""
from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence

import ml_metadata as mlmd
from absl import logging
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

from runs import lineage, metadata, spans

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


class SpanWindowStrategy(resolver.ResolverStrategy):
    """The newest `num_spans` usable spans (0: all), oldest first, one Examples artifact each.

    Usable: holds every split of `split_names` and, when `validated_only`, passed validation.
    """

    def __init__(self, num_spans: int = 0, validated_only: bool = True, split_names: Sequence[str] = ()):
        self._num_spans = num_spans
        self._validated_only = validated_only
        self._split_names = set(split_names)

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        newest: Dict[int, types.Artifact] = {}
        for artifact in input_dict[EXAMPLES_KEY]:
            span = spans.span_of(artifact.mlmd_artifact)
            if span is not None and (span not in newest or artifact.id > newest[span].id):
                newest[span] = artifact
        unsplit = [s for s in sorted(newest) if not self._has_splits(newest[s])]
        if unsplit:
            logging.warning("span window: leaving out spans %s, whose Examples lack the splits %s "
                            "(written before they existed); ingest them again to use them",
                            unsplit, sorted(self._split_names))
        usable = [s for s in sorted(newest) if s not in unsplit
                  and (not self._validated_only or spans.validation(store, newest[s].id))]
        window = usable[-self._num_spans:] if self._num_spans else usable
        return {EXAMPLES_KEY: [newest[s] for s in window]} if window else None

    def _has_splits(self, artifact: types.Artifact) -> bool:
        names = metadata.artifact_properties(artifact.mlmd_artifact).get("split_names") or "[]"
        return self._split_names <= set(json.loads(names))


class ServingModelStrategy(resolver.ResolverStrategy):
    """The model of this pipeline's newest push (a rollback counts), else TFX's latest blessed model."""

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        models = {a.id: a for a in input_dict[MODEL_KEY]}  # this pipeline's: a shared store holds others'
        blessings = {a.id: a for a in input_dict[BLESSING_KEY]}
        for pushed in lineage.pushed_models(store):
            made_from = lineage.push_inputs(store, pushed)
            model, blessing = made_from.get(MODEL_KEY), made_from.get(BLESSING_KEY)
            if model is not None and model.id in models and blessing is not None and blessing.id in blessings:
                return {MODEL_KEY: [models[model.id]], BLESSING_KEY: [blessings[blessing.id]]}
        return LatestBlessedModelStrategy().resolve_artifacts(store, input_dict)


class LatestCacheStrategy(LatestArtifactStrategy):
    """The newest artifact of each input, or none yet."""

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        return self._resolve(input_dict)
