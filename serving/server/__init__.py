"""The TF Serving compatible server process: REST and gRPC front ends over a watched model
base path, versions, request log and metrics. `python -m serving.server` starts it."""
from serving.server.model_server import ModelServer

__all__ = ["ModelServer"]
