"""The shared flags land on the configuration fields they name; flags left out keep the defaults."""
import argparse

from pipeline.config_flags import add_config_arguments, config_from_args
from tests.conftest import PENGUINS


def _config(argv):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def test_flags_override_the_defaults(tmp_path):
    config = _config(["--dataset", PENGUINS, "--output-dir", str(tmp_path), "--train-steps", "7",
                      "--no-cache", "--beam-mode", "multi_threading", "--beam-arg=--direct_num_workers=2"])
    assert (config.train_steps, config.enable_cache, config.beam_mode) == (7, False, "multi_threading")
    assert config.output_dir == str(tmp_path) and "--direct_num_workers=2" in config.beam_args


def test_flags_left_out_keep_the_defaults(tmp_path):
    config = _config(["--output-dir", str(tmp_path)])
    assert config.enable_cache and not config.warm_starts and config.dataset.folder == PENGUINS
