"""The real TF Serving recipe stays consistent with the local server (it cannot run here)."""
import os

import yaml
from google.protobuf import text_format

from serving.deploy import recipe
from serving.server.metrics import METRICS_PATH

HERE = os.path.dirname(os.path.abspath(recipe.__file__))


def test_docker_command_mounts_the_model_base_path_and_maps_the_ports(tmp_path):
    (tmp_path / "serving_model" / "penguins" / "1").mkdir(parents=True)
    command = recipe.docker_command(str(tmp_path / "serving_model" / "penguins"), "penguins")
    joined = " ".join(command)
    assert "127.0.0.1:8500:8500" in joined and "127.0.0.1:8501:8501" in joined
    assert f"{tmp_path}/serving_model/penguins:/models/penguins:ro" in joined
    assert "MODEL_NAME=penguins" in joined and command[command.index("-e") + 2].startswith("tensorflow/serving:")
    assert recipe.main(["--output-dir", str(tmp_path)]) == 0


def test_compose_file_matches_the_command():
    compose = yaml.safe_load(open(os.path.join(HERE, "tf_serving", "docker-compose.yml")))
    service = compose["services"]["tf-serving"]
    assert service["image"] == recipe.IMAGE
    assert service["ports"] == ["127.0.0.1:8500:8500", "127.0.0.1:8501:8501"]
    assert any(v.endswith(":/models/${MODEL_NAME:-penguins}:ro") for v in service["volumes"])
    assert "--monitoring_config_file=/config/monitoring.config" in service["command"]


def test_monitoring_config_enables_prometheus_at_the_same_path():
    text = open(recipe.MONITORING_CONFIG).read()
    # MonitoringConfig { prometheus_config { enable path } }: parse it with an equivalent message.
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="m.proto", package="t")
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)
    prometheus.field.add(name="path", number=2, type=9, label=1)
    config = file.message_type.add(name="MonitoringConfig")
    config.field.add(name="prometheus_config", number=1, type=11, label=1, type_name=".t.PrometheusConfig")
    pool.Add(file)
    message = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("t.MonitoringConfig"))()
    text_format.Parse(text, message)
    assert message.prometheus_config.enable and message.prometheus_config.path == METRICS_PATH
