"""Quiet start-up (scripts/tfx_template_quiet.py): the libraries' start-up noise is hidden unless
TFX_TEMPLATE_VERBOSE is set, and nothing else is."""
import importlib.util
import os
import subprocess
import sys
import sysconfig

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = os.path.join(REPO_ROOT, "scripts")
# What `python -m serving.monitor` loads, then a warning of the project's own.
IMPORTS = ("import tensorflow, tensorflow_data_validation, google.api_core, warnings; "
           "warnings.warn('a real warning from project code')")
NOISE = ("Unable to register cuFFT factory", "Unable to register cuDNN factory", "Unable to register cuBLAS factory",
         "FutureWarning: You are using a non-supported Python version")


@pytest.fixture
def quiet(monkeypatch):
    """The module from the repository, loaded without installing its hooks into this process."""
    monkeypatch.setenv("TFX_TEMPLATE_VERBOSE", "1")
    spec = importlib.util.spec_from_file_location("quiet_under_test", os.path.join(SCRIPTS, "tfx_template_quiet.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_venv_runs_the_repositorys_start_up_files():
    purelib = sysconfig.get_paths()["purelib"]
    for name in ("environment.pth", "tfx_template_quiet.py"):
        with open(os.path.join(SCRIPTS, name)) as ours, open(os.path.join(purelib, name)) as installed:
            assert installed.read() == ours.read(), f"{purelib}/{name} is stale: run `make setup`"


def test_library_noise_is_hidden_by_default_and_shown_when_asked():
    # As a new shell has it: the levels environment.pth sets, not what a runner tested earlier set.
    env = {k: v for k, v in os.environ.items()
           if k not in ("TFX_TEMPLATE_VERBOSE", "TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel")}
    commands = {"quiet": (IMPORTS, env), "verbose": (IMPORTS, dict(env, TFX_TEMPLATE_VERBOSE="1")),
                # a command's --verbose sets the variable before it imports TensorFlow
                "verbose flag": ("import os; os.environ['TFX_TEMPLATE_VERBOSE'] = '1'; import tensorflow", env)}
    runs = {name: subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
                                   env=run_env) for name, (code, run_env) in commands.items()}
    stderr = {name: run.communicate(timeout=300)[1] for name, run in runs.items()}
    assert all(run.returncode == 0 for run in runs.values()), stderr
    assert not [line for line in NOISE if line in stderr["quiet"]], stderr["quiet"]
    assert all(line in stderr["verbose"] for line in NOISE), stderr["verbose"]
    assert all(line in stderr["verbose flag"] for line in NOISE[:3]), stderr["verbose flag"]
    for name in ("quiet", "verbose"):
        assert "UserWarning: a real warning from project code" in stderr[name]


def test_only_the_factory_registration_lines_are_dropped(quiet):
    factory = (b"2026-12-07 19:54:24.913495: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:10575] "
               b"Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN when one has "
               b"already been registered\n")
    real = b"2026-12-07 19:54:25.000000: E tensorflow/core/framework/op_kernel.cc:1] a real error\n"
    assert quiet.without_factory_lines(factory + real + factory) == real


def test_what_is_written_while_held_comes_out_after_without_the_factory_lines(quiet, capfd):
    with quiet._HeldStderr():
        os.write(2, b"Unable to register cuBLAS factory: Attempting to register factory for plugin cuBLAS\n")
        print("a Python warning", file=sys.stderr)
        os.write(2, b"a C++ error\n")
    assert capfd.readouterr().err == "a Python warning\na C++ error\n"


@pytest.mark.parametrize("value, verbose", [("", False), ("0", False), ("no", False), ("1", True), ("yes", True)])
def test_the_verbose_variable(quiet, monkeypatch, value, verbose):
    monkeypatch.setenv("TFX_TEMPLATE_VERBOSE", value)
    assert quiet.verbose() is verbose
