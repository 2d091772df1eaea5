"""kubeflow_runner.py's bad input and submit paths: one-line errors before compiling, and the KFP and Vertex
submissions checked up to the point where they would need a real endpoint or real credentials."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import kubeflow_runner
from pipeline.config import DEFAULT_DATASET as PENGUINS
from tests.kubeflow_spec import CONFIGURED, IMAGE, ROOT, compile_spec, executor, parameter


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


NO_GOOGLE_CREDENTIALS = {"GOOGLE_APPLICATION_CREDENTIALS": None, "NO_GCE_CHECK": "true"}
SUBMITTABLE = ["--image", IMAGE, "--pipeline-root", ROOT, "--serving-dir", "gs://acme/serving"]


@pytest.mark.parametrize("argv, env, message", [
    (["--output-dir", "x"], {}, "--output-dir is for local runs"),
    (["--output", "spec.txt"], {}, "use a .json/.yaml/.yml file name"),
    (["--pipeline-root", "outputs/root"], {}, "--pipeline-root must be on object storage"),
    (["--serving-dir", "/tmp/models"], {}, "--serving-dir must be on object storage"),
    (["--data-uri", "data/penguins"], {}, "--data-uri must be an absolute path in the image"),
    (["--submit", "kfp", "--endpoint", "http://kfp"], {}, "cannot submit with placeholders: set --image"),
    ([*SUBMITTABLE, "--submit", "kfp"], {"KF_PIPELINES_ENDPOINT": None}, "--submit kfp needs --endpoint"),
    ([*SUBMITTABLE, "--submit", "kfp", "--endpoint", "CLOSED"], {}, "cannot reach Kubeflow Pipelines at"),
    ([*SUBMITTABLE, "--submit", "vertex", "--project", "p"], {}, "--submit vertex needs --region"),
    (["--image", IMAGE, "--pipeline-root", "s3://b/root", "--serving-dir", "s3://b/s", "--submit", "vertex",
      "--region", "europe-west4"], {}, "--pipeline-root must start with gs://"),
    ([*SUBMITTABLE, "--submit", "vertex", "--region", "europe-west4"], NO_GOOGLE_CREDENTIALS,
     "no Google Cloud credentials"),
])
def test_bad_input_gets_a_one_line_error_before_compiling(tmp_path, monkeypatch, capsys, argv, env, message):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login from this machine
    for name, value in env.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    argv = [closed_port_url() if a == "CLOSED" else a for a in argv]
    output = tmp_path / "spec.yaml"
    argv = argv if "--output" in argv else [*argv, "--output", str(output)]
    assert kubeflow_runner.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not output.exists()


def test_kfp_submit_needs_a_yaml_spec(tmp_path, capsys):
    argv = [*SUBMITTABLE, "--submit", "kfp", "--endpoint", closed_port_url(), "--output", str(tmp_path / "p.json")]
    assert kubeflow_runner.main(argv) == 2
    assert "kfp.Client uploads YAML pipeline specs only" in capsys.readouterr().err


def test_dataset_outside_the_project_needs_a_data_uri(tmp_path, capsys):
    import shutil

    dataset = shutil.copytree(PENGUINS, tmp_path / "mydata")
    assert kubeflow_runner.main(["--dataset", str(dataset), "--output", str(tmp_path / "p.yaml")]) == 2
    assert "is outside the project, so it is not in the image" in capsys.readouterr().err
    spec, _ = compile_spec(tmp_path, ["--dataset", str(dataset), "--data-uri", "gs://b/mydata/"])
    assert parameter(spec, "CsvExampleGen", "input_base") == "gs://b/mydata"


def test_pipeline_name_must_suit_kubeflow(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("pipeline_name: My_Pipeline\n")
    assert kubeflow_runner.main(["--config", str(config), "--output", str(tmp_path / "p.yaml")]) == 2
    assert "pipeline name 'My_Pipeline' is not valid on Kubeflow/Vertex" in capsys.readouterr().err


def test_direct_runner_mode_is_chosen_from_the_local_copy_of_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.config.IN_MEMORY_MAX_BYTES", 0)  # as if the data were large
    spec, _ = compile_spec(tmp_path, CONFIGURED)
    assert "--direct_running_mode=multi_processing" in executor(spec, "Transform")["container"]["args"]


class FakeKfpApi(BaseHTTPRequestHandler):
    """Just enough of the Kubeflow Pipelines v2beta1 REST API for kfp.Client to start a run."""

    runs = []

    def _reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/apis/v2beta1/healthz"):
            return self._reply({"multi_user": False})
        if self.path.startswith("/apis/v2beta1/experiments"):
            return self._reply({"experiments": [{"experiment_id": "exp-1", "display_name": "Default"}]})
        self.send_error(404)

    def do_POST(self):
        if self.path.startswith("/apis/v2beta1/runs"):
            self.runs.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            return self._reply({"run_id": "run-1", "experiment_id": "exp-1"})
        self.send_error(404)

    def log_message(self, *args):
        pass


def test_kfp_submit_uploads_the_compiled_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client keeps a context file there
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKfpApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        spec, _ = compile_spec(tmp_path, [*SUBMITTABLE, "--submit", "kfp", "--endpoint", endpoint])
    finally:
        server.shutdown()
    (run,) = FakeKfpApi.runs
    assert run["experiment_id"] == "exp-1"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "penguins-pipeline"
    assert run["pipeline_spec"]["defaultPipelineRoot"] == ROOT
    assert run["pipeline_spec"]["root"] == spec["root"]
    assert f"submitted run run-1 to {endpoint}" in capsys.readouterr().out


def test_vertex_submit_builds_the_pipeline_job_from_the_compiled_spec(tmp_path, monkeypatch, capsys):
    """Offline up to the API call: the real PipelineJob parses the spec; only submit() is replaced."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    submitted = []
    monkeypatch.setattr(google.auth, "default", lambda: (AnonymousCredentials(), "acme"))
    monkeypatch.setattr(aiplatform.PipelineJob, "submit", lambda job: submitted.append(job))
    monkeypatch.setattr(aiplatform.PipelineJob, "resource_name", "projects/acme/pipelineJobs/1")
    spec, _ = compile_spec(tmp_path, [*SUBMITTABLE, "--submit", "vertex", "--region", "europe-west4"])
    (job,) = submitted
    resource = job._gca_resource
    assert resource.runtime_config.gcs_output_directory == ROOT
    assert resource.display_name == "penguins-pipeline"
    assert job.location == "europe-west4" and job.project == "acme"
    assert type(resource).to_dict(resource)["pipeline_spec"]["root"] == spec["root"]
    assert "submitted projects/acme/pipelineJobs/1" in capsys.readouterr().out




def test_hparams_is_refused_for_a_cluster_which_cannot_read_the_file(tmp_path, capsys):
    hparams = tmp_path / "hparams.json"
    hparams.write_text('{"model_type": "linear"}')
    output = tmp_path / "spec.yaml"
    assert kubeflow_runner.main([*SUBMITTABLE, "--hparams", str(hparams), "--output", str(output)]) == 2
    assert "--hparams imports a file of this machine" in capsys.readouterr().err and not output.exists()
