"""The command-line flags every runner and tool shares, mapped onto the configuration (pipeline/config.py)."""
from __future__ import annotations

from pipeline.config import (BEAM_MODES, DATASET_FILE, IN_MEMORY_MAX_BYTES, SCHEMA_FILE, SCHEMA_MODES, PipelineConfig,
                             load_config)
from runs.cli import add_output_dir


def add_config_arguments(parser) -> None:
    """The command-line flags shared by every runner and tool (all map onto PipelineConfig)."""
    parser.add_argument("--config", metavar="FILE", help="YAML file with configuration keys (flags override it)")
    parser.add_argument("--dataset", metavar="DIR",
                        help=f"dataset folder (CSV + {DATASET_FILE} + {SCHEMA_FILE}); default data/penguins")
    add_output_dir(parser, "where the pipeline root, the SQLite metadata store and the serving "
                           "directory go; default ./outputs")
    parser.add_argument("--train-steps", type=int, metavar="N",
                        help="at most N training steps (default 5000; training stops earlier when the eval loss "
                             "stops improving)")
    parser.add_argument("--eval-steps", type=int, metavar="N", help="evaluation steps during training (default 50)")
    parser.add_argument("--schema-mode", choices=SCHEMA_MODES,
                        help="'curated': validate against the dataset's reviewed schema.pbtxt (default); "
                             "'inferred': infer a fresh schema with SchemaGen")
    parser.add_argument("--beam-mode", choices=BEAM_MODES,
                        help="Beam direct runner mode; 'auto' (default) uses in_memory for small data "
                             f"(<= {IN_MEMORY_MAX_BYTES // 2**20} MiB of CSV) and multi_processing above; "
                             "'portable' submits to a job service (started here, or --beam-arg=--job_endpoint=...) "
                             "with separate SDK worker processes")
    parser.add_argument("--beam-workers", type=int, metavar="N",
                        help="workers for multi_processing/multi_threading/portable (default: one per core)")
    parser.add_argument("--beam-arg", action="append", dest="beam_args", metavar="ARG",
                        help="extra Beam pipeline argument, repeatable (e.g. --beam-arg=--runner=FlinkRunner)")
    parser.add_argument("--no-cache", dest="enable_cache", action="store_const", const=False,
                        help="re-run every component instead of reusing cached results")
    parser.add_argument("--warm-start", action="store_const", const=True,
                        help="start training from the blessed model's weights when the features are unchanged "
                             "(as warm_start: true in dataset.yaml)")
    parser.add_argument("--tune", action="store_const", const=True,
                        help="search the hyperparameters with TFX's Tuner before training (as tuning: enabled: true; "
                             "docs/tuning.md)")
    parser.add_argument("--hparams", metavar="FILE",
                        help="train with these hyperparameters, skipping tuning: a tuned run's "
                             "best_hyperparameters.txt or a JSON object of name -> value")


def config_from_args(args) -> PipelineConfig:
    keys = ("dataset", "output_dir", "train_steps", "eval_steps", "schema_mode", "beam_mode",
            "beam_workers", "beam_args", "enable_cache", "warm_start")
    tuning = {k: v for k, v in (("enabled", getattr(args, "tune", None)), ("hparams", getattr(args, "hparams", None)))
              if v is not None}
    return load_config(getattr(args, "config", None),
                       {"tuning": tuning or None, **{k: getattr(args, k, None) for k in keys}})
