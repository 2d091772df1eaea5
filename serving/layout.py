"""Where things live under a pipeline output dir, as this template lays it out.

  <output>/serving_model/<model>/<version>/   pushed SavedModels (TF Serving layout)
  <output>/metadata.sqlite                     ML Metadata of the runs
  <output>/request_log/<model>/requests.jsonl  the server's request log
  <output>/monitoring/<model>/                 monitor results and reports
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

SERVING_DIR = "serving_model"


def model_base_path_for(output_dir: str, model_name: Optional[str]) -> Tuple[str, str]:
    """(<output>/serving_model/<model>, model), guessing the model when only one was pushed."""
    root = os.path.join(os.path.abspath(output_dir), SERVING_DIR)
    if model_name is None:
        names = sorted(os.listdir(root)) if os.path.isdir(root) else []
        if len(names) != 1:
            raise ValueError(f"{root} holds {names or 'no models'}; pass --model_name "
                             f"(and run the pipeline first if nothing was pushed)")
        model_name = names[0]
    return os.path.join(root, model_name), model_name


def metadata_path_for(output_dir: str) -> str:
    return os.path.join(os.path.abspath(output_dir), "metadata.sqlite")


def log_dir_for_output(output_dir: str, model_name: str) -> str:
    return os.path.join(os.path.abspath(output_dir), "request_log", model_name)


def monitoring_dir_for_output(output_dir: str, model_name: str) -> str:
    return os.path.join(os.path.abspath(output_dir), "monitoring", model_name)


def default_log_dir(model_base_path: str, model_name: str) -> Optional[str]:
    """The request log dir when the base path is the template's <output>/serving_model/<model>."""
    parent = os.path.dirname(os.path.abspath(model_base_path))
    if os.path.basename(parent) != SERVING_DIR:
        return None
    return log_dir_for_output(os.path.dirname(parent), model_name)
