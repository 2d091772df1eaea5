"""The closing summary of a run: anomalies, blessing and why, key metrics, the push."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from pipeline.config import PipelineConfig
from pipeline.pipeline import PUSHER_ID
from pipeline.preflight import DataCheck
from pipeline.progress import RunProgress
from pipeline.span_plan import span_list
from pipeline.splits import TEST
from runs import exit_codes, metadata, results, spans
from runs import exit_codes, metadata, results, spans, tuning

EXAMPLE_VALIDATOR = "ExampleValidator"
EVALUATOR = "Evaluator"
TRAINER = "Trainer"



@dataclass
class RunSummary:
    config: PipelineConfig
    seconds: float
    counts: dict
    anomalies: List[results.Anomaly] = field(default_factory=list)
    gated: bool = False
    evaluation: Optional[results.Evaluation] = None
    push: Optional[results.Push] = None
    run_id: Optional[str] = None
    data_check: Optional[DataCheck] = None
    ingest_only: bool = False
    trained_spans: Optional[List[int]] = None
    warm_start: Optional[str] = None
    pushes: bool = True  # False: a partial run whose range ends before the Pusher
    trained_with: Optional[tuning.TrainedWith] = None
    training: Optional[str] = None

    @property
    def exit_code(self) -> int:
        if self.gated:
            return exit_codes.ANOMALIES
        if self.ingest_only or not self.pushes or (self.push and self.push.pushed):
            return exit_codes.OK
        return exit_codes.NOT_BLESSED

    def lines(self) -> List[str]:
        metric = self.config.dataset.evaluation.metric
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        out = [f"Run {self.run_id or ''} finished in {self.seconds:.1f} s ({counts})"]
        if self.anomalies:
            verdict = ("stopped the run before training (the data does not match the curated schema)"
                       if self.gated else "found (the schema is inferred, so the run went on)")
            out.append(f"Data anomalies {verdict}:")
            out += [f"  - {a}" for a in self.anomalies]
        else:
            out.append("Data: no anomalies against the schema")
        if self.data_check is not None and self.data_check.unlabelled:
            out.append(f"  {self.data_check.dropped_text(self.config.dataset.label)}")
        span = self.config.ingest_span
        if self.ingest_only:
            out.append(f"Span {span}: " + ("ingested, but left out of training (anomalies)" if self.gated else
                                           "ingested; it joins the window of the next training run"))
            return out + [f"Metadata: {self.config.metadata.describe()}"]
        if self.trained_spans:
            window = self.config.dataset.span_window
            out.append(f"Spans: trained on {span_list(self.trained_spans)} "
                       f"({f'window of {window}' if window else 'every span'})")
        if self.warm_start:
            out.append(f"Warm start: {self.warm_start}")
        if self.trained_with is not None:
            out += tuning.summary_lines(self.trained_with)
        if self.training:
            out.append(f"Training: {self.training}")
        if self.evaluation is not None:
            ev = self.evaluation
            overall = ev.metrics.get("Overall", {})
            if metric in overall:
                change = ev.baseline_diffs.get("Overall", {}).get(metric)
                vs = f" ({change:+.4f} vs the blessed baseline)" if change is not None else " (no baseline yet)"
                out.append(f"Evaluation: {metric} = {overall[metric]:.4f} overall on "
                           f"{int(overall.get('example_count', 0))} {TEST} examples{vs}")
                out.append(f"  blessed if: {self.config.dataset.evaluation.describe()}")
            slices = [f"{name} {m[metric]:.3f}" for name, m in sorted(ev.metrics.items())
                      if name != "Overall" and metric in m]
            if slices:
                out.append(f"  per slice: {', '.join(slices)}")
            if ev.blessed:
                out.append("Blessed: yes, every threshold passed")
            else:
                out.append("Blessed: NO")
                out += [f"  - failed: {f}" for f in ev.failures] or ["  - see the Evaluator output"]
        if self.push is not None and self.push.pushed:
            out.append(f"Pushed: version {self.push.version} -> {self.push.destination}")
        elif not self.pushes:
            out.append(f"Not pushed: this partial run ends before the {PUSHER_ID}")
        elif not self.gated:
            out.append(f"Not pushed: the model serving at {self.config.serving_dir} (if any) is unchanged")
        else:
            out.append(f"Nothing trained or pushed; the model serving at {self.config.serving_dir} (if any) is unchanged")
        out.append(f"Metadata: {self.config.metadata.describe()}")
        return out


def summarize(config: PipelineConfig, progress: RunProgress, seconds: float,
              data_check: Optional[DataCheck] = None, ingest_only: bool = False, pushes: bool = True) -> RunSummary:
    store = progress.store
    summary = RunSummary(config=config, seconds=seconds, counts=progress.counts(), data_check=data_check,
                         ingest_only=ingest_only, pushes=pushes)

    validator_id = progress.execution_id(EXAMPLE_VALIDATOR)
    if validator_id is not None:
        summary.run_id = metadata.run_id_of(store, validator_id)
        for artifact in metadata.output_artifacts(store, validator_id).get("anomalies", []):
            summary.anomalies += results.read_anomalies(artifact.uri)
    summary.gated = bool(summary.anomalies) and config.schema_mode == "curated"

    evaluator_id = progress.execution_id(EVALUATOR)
    if evaluator_id is not None:
        outputs = metadata.output_artifacts(store, evaluator_id)
        blessing = outputs.get("blessing", [None])[0]
        blessed = bool(blessing is not None and metadata.custom_property(blessing, "blessed"))
        evaluation = outputs.get("evaluation", [])
        if evaluation:
            summary.evaluation = results.read_evaluation(evaluation[0].uri, blessed)

    if summary.run_id is not None and config.dataset.spans:
        summary.trained_spans = spans.trained_spans(store, summary.run_id)
    trainer_id = progress.execution_id(TRAINER)
    if trainer_id is not None:
        trainer_outputs = metadata.output_artifacts(store, trainer_id)
        summary.warm_start = results.read_warm_start(trainer_outputs)
        summary.training = results.read_training(trainer_outputs)
        summary.trained_with = tuning.given_to(store, trainer_id)

    pusher_id = progress.execution_id(PUSHER_ID)
    if pusher_id is not None:
        pushed = metadata.output_artifacts(store, pusher_id).get("pushed_model", [])
        if pushed:
            summary.push = results.read_push(pushed[0])
    return summary
