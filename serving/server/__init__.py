"""The TF Serving compatible server process: REST and gRPC front ends over a watched model
base path, versions, request log and metrics. `python -m serving.server` starts it.

`ModelServer` is imported on first use, so the request log's writer process
(`python -m serving.server.request_log_writer`) starts without TensorFlow."""

__all__ = ["ModelServer"]


def __getattr__(name: str):
    if name == "ModelServer":
        from serving.server.model_server import ModelServer
        return ModelServer
    raise AttributeError(f"module 'serving.server' has no attribute '{name}'")
