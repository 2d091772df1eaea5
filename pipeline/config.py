"""The one configuration object for a pipeline run.

A dataset is described once, by its folder (CSV files, `dataset.yaml`, the curated
`schema.pbtxt`); everything else (pipeline name, model name, output layout, Beam
arguments) is derived here, so runners and components never repeat it.

A folder holds its CSV files directly (one span), or `span-<N>/` subfolders of CSV
files with the same columns: data that arrives over time, one span per delivery.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

from data import csv_checks, tasks
from pipeline import splits as split_config
from pipeline.errors import ConfigError
from pipeline.tuning_config import TuningConfig
from runs.layout import DEFAULT_OUTPUT_DIR, OutputLayout
from runs.store import MetadataConfig, read_config_file

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATASET = os.path.join(REPO_ROOT, "data", "penguins")
DATASET_FILE = "dataset.yaml"
SCHEMA_FILE = "schema.pbtxt"
CSV_PATTERN = "*.csv"
SPAN_PREFIX = "span-"
# ExampleGen's own span spec: TFX fills {SPAN} with the span number it ingests.
SPAN_PATTERN = SPAN_PREFIX + "{SPAN}/" + CSV_PATTERN
_SPAN_FOLDER = re.compile(r"span-([1-9][0-9]*)")

SCHEMA_MODES = ("curated", "inferred")
BEAM_MODES = ("auto", "in_memory", "multi_threading", "multi_processing", "portable")
# The portable runner (pipeline/portable.py) with SDK workers served by a worker pool. Beam's default
# job_server_timeout (60 s) is also the deadline of a job's state stream: a longer job would fail.
PORTABLE_ARGS = ("--runner=PortableRunner", "--environment_type=EXTERNAL", "--job_server_timeout=86400")
# DatasetConfig fields the pre-flight check learns from the data; not dataset.yaml keys.
DERIVED_FIELDS = {"folder", "classes", "spanned"}
# Below this much CSV the in-memory direct runner wins: worker start-up dominates. Set a
# little under where the two modes' wall times cross (docs/performance.md, "Beam mode by data size").
IN_MEMORY_MAX_BYTES = 16 * 1024 * 1024


def beam_arg(args, flag: str) -> Optional[str]:
    """A Beam flag's value in a list of arguments (`--flag=value` or `--flag value`; the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            value = arg[len(flag) + 1:]
        elif arg == flag and i + 1 < len(args):
            value = args[i + 1]
    return value


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class EvaluationConfig:
    """When a trained model is good enough to push, in the words of dataset.yaml.

    `metric` is a name from data.tasks.METRICS ('' = the task's default). A higher-is-better
    metric takes `min_value`, a lower-is-better one `max_value` (None = no absolute bound);
    `max_regression` is the worsening allowed against the blessed model, in the metric's own
    direction and unit (None = data.tasks.UNIT_INTERVAL_MAX_REGRESSION for metrics in [0, 1],
    unchecked for errors).
    """

    metric: str = ""
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    max_regression: Optional[float] = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> "EvaluationConfig":
        known = [f.name for f in dataclasses.fields(cls)]
        _require(isinstance(raw, dict) and set(raw) <= set(known), f"{where}: 'evaluation' accepts only {known}")
        values: Dict[str, Any] = {}
        for key, value in raw.items():
            if key == "metric":
                values[key] = str(value or "")
            elif value is not None:
                _require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                         f"{where}: evaluation.{key} must be a number, got {value!r}")
                values[key] = float(value)
        return cls(**values)

    @property
    def regression_allowed(self) -> Optional[float]:
        if self.max_regression is not None:
            return self.max_regression
        return tasks.UNIT_INTERVAL_MAX_REGRESSION if tasks.find_metric(self.metric).unit_interval else None

    def validate(self, task: str) -> None:
        """The metric exists, fits the task (when known) and its bounds are on its side; one line each."""
        try:
            metric = tasks.find_metric(self.metric)
        except tasks.DataError as e:
            raise ConfigError(f"evaluation.metric: {e}") from None
        wrong = "max_value" if metric.higher_is_better else "min_value"
        _require(getattr(self, wrong) is None,
                 f"evaluation.{wrong} does not fit '{self.metric}' ({metric.direction}): "
                 f"use {metric.bound_key} for its bound")
        bound = getattr(self, metric.bound_key)
        if bound is not None and metric.unit_interval:
            _require(0.0 <= bound <= 1.0, f"evaluation.{metric.bound_key} for '{self.metric}' must be in [0, 1]")
        if bound is not None and not metric.unit_interval:
            _require(bound >= 0.0, f"evaluation.{metric.bound_key} for '{self.metric}' must be >= 0")
        _require(self.max_regression is None or self.max_regression >= 0.0, "evaluation.max_regression must be >= 0")
        if task:
            _require(task in tasks.tasks_of(metric),
                     f"evaluation.metric '{self.metric}' does not fit task '{task}'; for {task} use one of: "
                     + ", ".join(m.name for m in tasks.METRICS if task in tasks.tasks_of(m)))

    def describe(self) -> str:
        """'auc >= 0.7, at most 0.02 worse than the blessed model' (the user's words)."""
        metric = tasks.find_metric(self.metric)
        bound = getattr(self, metric.bound_key)
        op = ">=" if metric.higher_is_better else "<="
        parts = [f"{self.metric} {op} {bound:g}" if bound is not None else f"{self.metric} (no absolute bound)"]
        allowed = self.regression_allowed
        parts.append(f"at most {allowed:g} worse than the blessed model" if allowed is not None
                     else "no check against the blessed model")
        return f"{', '.join(parts)} ({metric.direction})"


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset folder: CSV files + dataset.yaml + curated schema.pbtxt."""

    folder: str
    name: str
    label: str
    model_name: str
    task: str = ""  # '' = inferred from the label column by the pre-flight check
    positive_class: str = ""  # binary classification: '' = inferred (1, yes, true ..., or the rarer class)
    ignore_columns: Tuple[str, ...] = ()
    categorical: Tuple[str, ...] = ()  # integer columns that are categories, not quantities
    slice_by: Tuple[str, ...] = ()
    evaluation: EvaluationConfig = EvaluationConfig()
    # Learned from the data by the pre-flight check, never written in dataset.yaml.
    classes: Tuple[str, ...] = ()
    # Train and evaluate on the newest K spans (0: every span).
    span_window: int = 0
    # Start training from the blessed model's weights when the features are unchanged.
    warm_start: bool = False
    tuning: TuningConfig = TuningConfig()  # pipeline/tuning_config.py
    # Whether the folder holds span-<N>/ subfolders, as found when loaded (a cluster's copy moves).
    spanned: bool = False
    # ((split, hash-bucket weight), ...): train, eval, test (pipeline/splits.py says who reads which).
    splits: split_config.Splits = split_config.DEFAULT

    @property
    def schema_path(self) -> str:
        return os.path.join(self.folder, SCHEMA_FILE)

    @property
    def spans(self) -> Tuple[int, ...]:
        """Span numbers of the `span-<N>/` subfolders that hold CSV files, oldest first (() if none)."""
        found = []
        for name in os.listdir(self.folder):
            match = _SPAN_FOLDER.fullmatch(name)
            if match and glob.glob(os.path.join(self.folder, name, CSV_PATTERN)):
                found.append(int(match.group(1)))
        return tuple(sorted(found))

    def span_folder(self, span: int) -> str:
        return os.path.join(self.folder, f"{SPAN_PREFIX}{span}")

    @property
    def input_pattern(self) -> str:
        """What ExampleGen reads, relative to the folder: one span's CSV files, or the folder's own."""
        return SPAN_PATTERN if self.spanned else CSV_PATTERN

    def window(self, spans: Optional[Tuple[int, ...]] = None) -> Tuple[int, ...]:
        """The newest `span_window` spans of `spans` (default: those on disk)."""
        spans = tuple(sorted(self.spans if spans is None else spans))
        return spans[-self.span_window:] if self.span_window else spans

    @property
    def csv_files(self) -> Tuple[str, ...]:
        """Every CSV file the dataset holds: the folder's own, or each span's, oldest span first."""
        folders = [self.span_folder(s) for s in self.spans] or [self.folder]
        return tuple(f for folder in folders for f in sorted(glob.glob(os.path.join(folder, CSV_PATTERN))))

    @property
    def data_bytes(self) -> int:
        """Bytes of CSV one run trains on: the folder, or the spans of the window."""
        folders = [self.span_folder(s) for s in self.window()] or [self.folder]
        return sum(os.path.getsize(f) for folder in folders for f in glob.glob(os.path.join(folder, CSV_PATTERN)))

    def columns(self) -> Tuple[str, ...]:
        """The header of the first CSV file (ExampleGen requires one header for all)."""
        return _header(self.csv_files[0])

    def custom_config(self) -> Dict[str, Any]:
        """What the model code needs to know about the dataset (passed to Transform and Trainer)."""
        return {
            "label": self.label,
            "ignore_columns": list(self.ignore_columns),
            "categorical": list(self.categorical),
            "task": self.task,
            "classes": list(self.classes),
        }

    @classmethod
    def load(cls, folder: str) -> "DatasetConfig":
        folder = os.path.abspath(folder)
        _require(os.path.isdir(folder), f"dataset folder not found: {folder}")
        path = os.path.join(folder, DATASET_FILE)
        _require(os.path.isfile(path),
                 f"{path} is missing: a dataset folder needs a {DATASET_FILE} naming at least its label column "
                 "(python -m data.init FILE.csv --label COLUMN writes one)")
        try:
            with open(path) as f:
                raw = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from e
        _require(isinstance(raw, dict), f"{path} must be a mapping of keys to values")
        known = {f.name for f in dataclasses.fields(cls)} - DERIVED_FIELDS
        unknown = sorted(set(raw) - known)
        _require(not unknown, f"{path}: unknown keys {unknown}; known keys are {sorted(known)}")
        _require("label" in raw, f"{path}: 'label' (the column to predict) is required")
        evaluation = EvaluationConfig.parse(raw.pop("evaluation", None) or {}, path)
        name = str(raw.pop("name", os.path.basename(folder)))
        lists = {key: raw.pop(key, ()) or () for key in ("ignore_columns", "categorical", "slice_by")}
        for key, value in lists.items():
            _require(isinstance(value, (list, tuple)), f"{path}: '{key}' must be a list of column names")
        try:
            config = cls(
                folder=folder,
                name=name,
                label=str(raw.pop("label")),
                model_name=str(raw.pop("model_name", name)),
                task=str(raw.pop("task", "") or ""),
                positive_class=str(raw.pop("positive_class", "") or ""),
                evaluation=evaluation,
                **{key: tuple(str(v) for v in value) for key, value in lists.items()},
                span_window=_coerce("span_window", raw.pop("span_window", 0), 0),
                warm_start=_coerce("warm_start", raw.pop("warm_start", False), False),
                splits=split_config.parse(raw.pop("splits")) if "splits" in raw else split_config.DEFAULT,
                tuning=TuningConfig().layered(raw.pop("tuning", None)),
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path}: {e}") from e
        config = dataclasses.replace(config, spanned=bool(config.spans))
        config.validate()
        return config

    def validate(self) -> None:
        _require(not self.task or self.task in tasks.TASKS,
                 f"task '{self.task}' is not supported; use one of {tasks.TASKS}, or leave it out to infer it")
        if self.evaluation.metric:
            self.evaluation.validate(self.task)
        _require(self.span_window >= 0, "span_window must be zero (every span) or a positive number of spans")
        self._validate_layout()
        columns = self.columns()
        for path in self.csv_files[1:]:
            other = _header(path)
            _require(other == columns, f"{path} has a different header (it has columns {', '.join(other)}, but "
                                       f"{self.csv_files[0]} has {', '.join(columns)}): every CSV file of a "
                                       "dataset needs the same header")
        _require(self.label in columns,
                 f"label column '{self.label}' is not in {self.csv_files[0]} (columns: {', '.join(columns)})")
        for kind, names in (("ignore_columns", self.ignore_columns), ("categorical", self.categorical),
                            ("slice_by", self.slice_by)):
            missing = [n for n in names if n not in columns]
            _require(not missing, f"{kind} names columns not in the CSV: {missing}")
        _require(self.label not in self.slice_by, "slice_by must not contain the label")
        _require(self.label not in self.categorical, "categorical lists feature columns; the label's kind is 'task'")

    def _validate_layout(self) -> None:
        """CSV files directly in the folder, or in span-<N>/ subfolders: not both, and no misnamed spans."""
        misnamed = sorted(n for n in os.listdir(self.folder) if n.startswith(SPAN_PREFIX)
                          and os.path.isdir(os.path.join(self.folder, n)) and not _SPAN_FOLDER.fullmatch(n))
        _require(not misnamed, f"span folders must be named {SPAN_PREFIX}<N>, N a positive integer without "
                               f"leading zeros; rename {', '.join(misnamed)} in {self.folder}")
        own = glob.glob(os.path.join(self.folder, CSV_PATTERN))
        if own and self.spans:
            raise ConfigError(f"{self.folder} holds both CSV files and {SPAN_PREFIX}<N>/ folders: "
                              f"move {os.path.basename(own[0])} into a span folder, or the spans out")
        _require(bool(self.csv_files), f"no CSV files ({CSV_PATTERN}) in {self.folder} "
                                       f"or in {SPAN_PREFIX}<N>/ folders under it")


def _header(path: str) -> Tuple[str, ...]:
    """A CSV file's column names (its first row)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a byte-order mark is not part of a name
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise ConfigError(str(csv_checks.encoding_error(path))) from None
    except (OSError, csv.Error) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    _require(bool(header), f"{path} is empty: expected a header row with column names")
    return tuple(h.strip() for h in header)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one run needs. Build with `load_config`."""

    dataset: DatasetConfig
    output_dir: str = DEFAULT_OUTPUT_DIR
    pipeline_name: str = ""
    train_steps: int = 5000  # a cap: training stops earlier when the eval loss stops improving (models/epochs.py)
    eval_steps: int = 50
    schema_mode: str = "curated"
    beam_mode: str = "auto"
    beam_workers: int = 0
    beam_args: Tuple[str, ...] = ()
    enable_cache: bool = True
    # --warm-start (dataset.yaml's warm_start turns it on too).
    warm_start: bool = False
    tuning: TuningConfig = TuningConfig()  # dataset.yaml's, then the config file's and the flags' keys
    # Transform's analyzer cache over a window of spans (false only to measure what it saves).
    analyzer_cache: bool = True
    # The span ExampleGen ingests in this run (0: the newest on disk); the run planner sets it.
    ingest_span: int = 0
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    # Overrides for remote storage (gs://, s3://); default under output_dir.
    pipeline_root_uri: str = ""
    serving_dir_uri: str = ""

    def __post_init__(self):
        if not self.pipeline_name:
            object.__setattr__(self, "pipeline_name", f"{self.dataset.name}-pipeline")
        if not (self.metadata.sqlite_path or self.metadata.mysql_host):
            object.__setattr__(self, "metadata", dataclasses.replace(
                self.metadata, sqlite_path=self.layout.metadata_sqlite))

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.output_dir)

    @property
    def pipeline_root(self) -> str:
        return self.pipeline_root_uri or self.layout.pipeline_root

    @property
    def serving_dir(self) -> str:
        """TF Serving's model base path: <serving_dir>/<version>/saved_model.pb."""
        if self.serving_dir_uri:
            return os.path.join(self.serving_dir_uri, self.dataset.model_name)
        return self.layout.model_base_path(self.dataset.model_name)

    @property
    def model_name(self) -> str:
        return self.dataset.model_name

    @property
    def warm_starts(self) -> bool:
        return self.warm_start or self.dataset.warm_start

    def resolved_beam_mode(self) -> str:
        if self.beam_mode != "auto":
            return self.beam_mode
        if beam_arg(self.beam_args, "--job_endpoint"):
            return "portable"
        return "in_memory" if self.dataset.data_bytes <= IN_MEMORY_MAX_BYTES else "multi_processing"

    def beam_pipeline_args(self) -> list:
        """Direct (or portable) runner flags for the chosen mode, then the user's own (which win)."""
        user_args = list(self.beam_args)
        mode = self.resolved_beam_mode()
        workers = self.beam_workers or (os.cpu_count() or 1)
        if mode == "portable":
            return [*PORTABLE_ARGS, f"--direct_num_workers={workers}", *user_args]
        if any(a.startswith("--runner") and "DirectRunner" not in a for a in user_args):
            return user_args
        args = [f"--direct_running_mode={mode}"]
        if mode != "in_memory":
            args.append(f"--direct_num_workers={workers}")
        return args + user_args

    def validate(self) -> None:
        _require(self.schema_mode in SCHEMA_MODES,
                 f"schema mode '{self.schema_mode}' is not one of {SCHEMA_MODES}")
        _require(self.beam_mode in BEAM_MODES, f"beam mode '{self.beam_mode}' is not one of {BEAM_MODES}")
        _require(self.train_steps > 0, "train steps must be a positive integer")
        _require(self.eval_steps >= 0, "eval steps must be zero or a positive integer")
        _require(self.beam_workers >= 0, "beam workers must be zero (one per core) or positive")
        _require(not beam_arg(self.beam_args, "--job_endpoint") or self.resolved_beam_mode() == "portable",
                 f"--beam-arg=--job_endpoint submits to a job service: use it with --beam-mode portable "
                 f"(or auto), not {self.beam_mode}")
        _require(not self.ingest_span or self.ingest_span in self.dataset.spans,
                 f"span {self.ingest_span} is not in {self.dataset.folder} (spans: {list(self.dataset.spans)})")
        if self.schema_mode == "curated":
            _require(os.path.isfile(self.dataset.schema_path),
                     f"curated schema not found: {self.dataset.schema_path} "
                     "(add one, or run with --schema-mode inferred)")


def _coerce(name: str, value: Any, target: Any) -> Any:
    """Turn a YAML/CLI value into the type of the field's default."""
    if isinstance(target, bool):
        if isinstance(value, str):
            lowered = value.lower()
            _require(lowered in ("true", "false", "1", "0", "yes", "no"), f"{name}: expected true/false, got {value!r}")
            return lowered in ("true", "1", "yes")
        return bool(value)
    if isinstance(target, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(target, tuple):
        _require(isinstance(value, (list, tuple)), f"{name}: expected a list, got {value!r}")
        return tuple(str(v) for v in value)
    return str(value)


def load_config(config_file: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> PipelineConfig:
    """Build the config: defaults < config file (YAML) < overrides (e.g. command-line flags).

    Keys are PipelineConfig field names, plus `dataset` (a folder) and the
    MetadataConfig fields (`sqlite_path`, `mysql_host`, ...). None values are ignored.
    """
    values: Dict[str, Any] = read_config_file(config_file, error=ConfigError) if config_file else {}
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    tuning_layers = ((values.pop("tuning", None), config_file), (flags.pop("tuning", None), "command line"))
    values.update(flags)

    pipeline_fields = {f.name for f in dataclasses.fields(PipelineConfig)} - {"metadata"}
    metadata_fields = {f.name for f in dataclasses.fields(MetadataConfig)}
    unknown = sorted(set(values) - pipeline_fields - metadata_fields)
    _require(not unknown, f"unknown configuration keys {unknown}; known keys are "
                          f"{sorted(pipeline_fields | metadata_fields)}")

    dataset = DatasetConfig.load(str(values.pop("dataset", DEFAULT_DATASET)))
    md_defaults, defaults = MetadataConfig(), PipelineConfig(dataset=dataset)
    metadata = MetadataConfig(**{k: _coerce(k, values.pop(k), getattr(md_defaults, k) or "")
                                 for k in list(values) if k in metadata_fields})
    kwargs = {k: _coerce(k, v, getattr(defaults, k)) for k, v in values.items()}
    kwargs["tuning"] = dataset.tuning.with_layers(tuning_layers)
    if "output_dir" in kwargs:
        kwargs["output_dir"] = os.path.abspath(kwargs["output_dir"])
    config = PipelineConfig(dataset=dataset, metadata=metadata, **kwargs)
    config.validate()
    return config
