"""pipeline.portable: local Beam services started and always stopped; bad worker environments in one line."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pipeline import portable
from pipeline.config import ConfigError
from tests.conftest import REPO_ROOT

LOCAL = ["--runner=PortableRunner", "--environment_type=EXTERNAL"]


def test_local_services_only_for_the_portable_runner_without_a_job_endpoint():
    assert portable.needs_local_services(LOCAL)
    assert not portable.needs_local_services(LOCAL + ["--job_endpoint=flink:8099"])
    assert not portable.needs_local_services(["--direct_running_mode=in_memory"])
    assert not portable.needs_local_services(["--runner=FlinkRunner"])


def test_workers_get_this_interpreter_first_and_the_project(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env = portable.worker_environment()
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert env["PYTHONPATH"] == REPO_ROOT


def _python_without_site(tmp_path):
    """A `python` that runs this interpreter without site-packages: Beam cannot be imported."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": str(bin_dir)}


def _beam_args_as_executed(config, monkeypatch, job, pool):
    """(Transform's executor spec as compiled, its Beam arguments as TFX resolves them at execution)."""
    from tfx.dsl.compiler import compiler, placeholder_utils
    from tfx.orchestration.local import runner_utils
    from tfx.orchestration.portable import data_types

    from pipeline.pipeline import create_pipeline

    monkeypatch.setenv(portable.JOB_ENDPOINT_VARIABLE, job)
    monkeypatch.setenv(portable.WORKER_POOL_VARIABLE, pool)
    ir = compiler.Compiler().compile(create_pipeline(
        config, beam_pipeline_args=portable.with_endpoint_placeholders(config.beam_pipeline_args())))
    spec = runner_utils.extract_executor_spec(runner_utils.extract_local_deployment_config(ir), "Transform")
    context = placeholder_utils.ResolutionContext(exec_info=data_types.ExecutionInfo())
    return spec.SerializeToString(deterministic=True), [
        placeholder_utils.resolve_placeholder_expression(arg, context) for arg in spec.beam_pipeline_args_placeholders]


def test_endpoints_reach_the_beam_jobs_but_not_the_cache_key(tmp_path, monkeypatch):
    from pipeline.config import load_config

    config = load_config(None, {"output_dir": str(tmp_path), "beam_mode": "portable"})
    spec_1, args_1 = _beam_args_as_executed(config, monkeypatch, "localhost:1111", "localhost:2222")
    spec_2, args_2 = _beam_args_as_executed(config, monkeypatch, "localhost:3333", "localhost:4444")
    assert spec_1 == spec_2  # TFX hashes the executor spec into the cache key
    assert args_1[:2] == ["--job_endpoint=localhost:1111", "--environment_config=localhost:2222"]
    assert args_2[:2] == ["--job_endpoint=localhost:3333", "--environment_config=localhost:4444"]
    assert args_1[2:] == config.beam_pipeline_args()


def test_a_worker_python_without_beam_fails_in_seconds_in_one_line(tmp_path):
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        portable.check_worker_environment(_python_without_site(tmp_path), str(tmp_path))
    assert time.monotonic() - started < 30
    message = str(error.value)
    assert "\n" not in message
    assert message.endswith("fails with: ModuleNotFoundError: No module named 'apache_beam'")
    assert str(tmp_path / "bin" / "python") in message


def test_a_worker_that_cannot_find_the_project_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(portable, "WORKER_PACKAGES", portable.WORKER_PACKAGES + ("no_such_project_module",))
    with pytest.raises(ConfigError, match="fails with: No module named 'no_such_project_module'$"):
        portable.check_worker_environment(portable.worker_environment(), str(tmp_path))


def test_no_python_on_the_workers_path(tmp_path):
    with pytest.raises(ConfigError, match="starts SDK workers as `python` from PATH, and there is none"):
        portable.check_worker_environment({"PATH": str(tmp_path)}, str(tmp_path))


def test_a_job_endpoint_that_does_not_answer_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(ConfigError, match=rf"cannot reach the Beam job service at 127.0.0.1:{port} \(--job_endpoint\)"):
        with portable.beam_services(LOCAL + [f"--job_endpoint=127.0.0.1:{port}"]):
            pass


def test_an_existing_job_service_is_used_and_nothing_started():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        args = LOCAL + [f"--job_endpoint=127.0.0.1:{listener.getsockname()[1]}"]
        with portable.beam_services(args) as used:
            assert used == args


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pids, seconds=60):
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def _service_pids():
    """Processes of this user running `-m pipeline.portable` whose parent is this test process."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,args=", "-u", str(os.getuid())], capture_output=True,
                         text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if "-m pipeline.portable" in line and int(line.split()[1]) == os.getpid()]


@pytest.mark.e2e
def test_services_answer_and_are_stopped_also_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="a component failed"):
        with portable.beam_services(LOCAL, out=open(os.devnull, "w")) as args:
            pids = _service_pids()
            assert len(pids) == 2
            for endpoint in (os.environ[portable.JOB_ENDPOINT_VARIABLE], os.environ[portable.WORKER_POOL_VARIABLE]):
                host, port = endpoint.split(":")
                socket.create_connection((host, int(port)), timeout=10).close()
            assert args[2:] == LOCAL
            raise RuntimeError("a component failed")
    assert _wait_gone(pids, seconds=0) == []
    assert portable.JOB_ENDPOINT_VARIABLE not in os.environ


ORPHANING_PARENT = """
import sys
from pipeline import portable
with portable.beam_services(["--runner=PortableRunner"], out=sys.stderr):
    print("ready", flush=True)
    sys.stdin.read()
"""


@pytest.mark.e2e
def test_services_exit_when_the_runner_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", ORPHANING_PARENT], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent.pid)], capture_output=True, text=True).stdout
        services = [int(p) for p in out.split()]
        assert len(services) == 2
        workdir = os.path.dirname(open(f"/proc/{services[0]}/cmdline").read().split("\0")[4])
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_gone(services, seconds=30) == []
        assert not os.path.exists(workdir)
    finally:
        parent.kill()
