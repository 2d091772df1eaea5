"""The pipeline benchmark's plan: sizes, scheduling, the modes compared, the steps each variant runs.

No timing here: speed is checked by running `python -m benchmarks.pipeline_speed`, which prints numbers.
"""
import argparse
import subprocess
import sys

import pytest

from benchmarks import official_penguin
from benchmarks import pipeline_report as report
from benchmarks import pipeline_speed as speed
from runs.layout import OutputLayout
from tests.conftest import REPO_ROOT


def test_parse_sizes_accepts_names_counts_and_suffixes():
    assert speed.parse_sizes("bundled,100000,1000000") == ["bundled", "100000", "1000000"]
    assert speed.parse_sizes(" penguins , 100k, 1M, 100000 ") == ["bundled", "100000", "1000000"]
    assert speed.parse_sizes("2.5k") == ["2500"]
    for bad in ("lots", "0", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            speed.parse_sizes(bad)


def test_schedule_is_round_robin_over_variants():
    assert speed.schedule([["a1", "a2"], ["b1", "b2"], ["c1"]]) == ["a1", "b1", "c1", "a2", "b2"]
    assert speed.schedule([]) == []


def test_schema_mode_per_dataset():
    args = argparse.Namespace(generated_schema_mode="inferred")
    assert speed.schema_mode_for("bundled", args) == "curated"
    assert speed.schema_mode_for("1000000", args) == "inferred"
    assert speed.schema_mode_for("1000000", argparse.Namespace(generated_schema_mode="curated")) == "curated"


def test_other_mode():
    assert speed.other_mode("in_memory") == "multi_processing"
    assert speed.other_mode("multi_processing") == "in_memory"


def test_modes_compared_include_the_portable_runner_once():
    assert speed.compare_modes("in_memory") == ["multi_processing", "portable"]
    assert speed.compare_modes("portable") == ["in_memory"]


def test_benchmark_help_runs():
    out = subprocess.run([sys.executable, "-m", "benchmarks.pipeline_speed", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    assert "--compare-modes-at" in out.stdout and "--skip-official" in out.stdout
    assert "--from-json" in out.stdout and "python -m benchmarks.pipeline_speed" in out.stdout


def test_steps_follow_the_output_layout_and_run_the_official_example_as_a_module(tmp_path):
    args = argparse.Namespace(train_steps=None, generated_schema_mode="curated", reruns=2)
    ours = speed.our_steps("100000", "/data", {"pipeline_name": "p"}, "in_memory", "ours in_memory", "primary",
                           str(tmp_path), args, 1)
    out = str(tmp_path / "ours-100k-in_memory")
    assert [s.run.step for s in ours] == ["cold", "re-run"]
    assert [s.fresh_dir for s in ours] == [out, None]
    assert {s.sqlite_path for s in ours} == {OutputLayout(out).metadata_sqlite}
    assert ours[1].run.log == str(tmp_path / "logs" / "ours-100k-in_memory-re-run.log")
    assert ours[0].run.command[-2:] == ["--schema-mode", "curated"]
    official = speed.official_steps(str(tmp_path), "multi_processing", args)
    assert [s.run.step for s in official] == ["cold", "re-run 1", "re-run 2"]
    assert official[0].run.command[1:3] == ["-m", "benchmarks.official_penguin"]
    assert official[0].sqlite_path == OutputLayout(str(tmp_path / "official-multi_processing")).metadata_sqlite
    assert official[2].run.log == str(tmp_path / "logs" / "official-multi_processing-re-run2.log")
    assert speed.OFFICIAL_PIPELINE == official_penguin.PIPELINE_NAME
