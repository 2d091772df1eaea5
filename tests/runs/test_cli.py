import argparse

import pytest

from runs.cli import add_flag, add_model_name, add_output_dir


def _parser():
    p = argparse.ArgumentParser()
    add_model_name(p)
    add_flag(p, "--min-rows", type=int, default=30)
    add_flag(p, "--dry-run", action="store_true")
    return p


def test_kebab_flag_and_its_snake_alias_set_the_same_value():
    p = _parser()
    assert vars(p.parse_args([])) == {"model_name": None, "min_rows": 30, "dry_run": False}
    assert vars(p.parse_args(["--model-name", "a", "--min-rows", "5", "--dry-run"])) == \
        vars(p.parse_args(["--model_name", "a", "--min_rows", "5", "--dry_run"])) == \
        {"model_name": "a", "min_rows": 5, "dry_run": True}


def test_help_shows_only_the_kebab_spelling():
    text = _parser().format_help()
    assert "--min-rows" in text and "--min_rows" not in text and "--model_name" not in text


def test_a_snake_case_flag_is_refused_at_definition():
    with pytest.raises(ValueError, match="kebab-case"):
        add_flag(argparse.ArgumentParser(), "--model_name")


def test_output_dir_is_one_flag_with_the_callers_help_and_default():
    p = argparse.ArgumentParser()
    add_output_dir(p, "where the run went", default="outputs")
    assert p.parse_args([]).output_dir == "outputs"
    assert p.parse_args(["--output-dir", "o"]).output_dir == "o"
    assert "where the run went" in p.format_help()
