"""An atomic Pusher: a version appears under `<serving_dir>/<version>/` all at once or not at all.

TFX's Pusher copies the model file by file straight into `<serving_dir>/<version>/`, so a server
polling the folder can meet a half-written version, and a push killed halfway leaves one behind.
This executor writes the model into a hidden sibling folder on the same filesystem, flushes it to
disk, and renames it into place: a rename is atomic, so the version folder is complete the moment
it exists. Servers never load the sibling: TF Serving and `serving/` only load integer-named
folders. A sibling left by a killed push is removed by the next push on the same machine.

Object storage (gs://, s3://) has no rename; there TFX's own copy runs (saved_model.pb last).
The PushedModel artifact's properties (`pushed`, `pushed_destination`, `pushed_version`) are
exactly TFX's, so lineage, inspect, the smoke test and the monitor read it unchanged.
"""
from __future__ import annotations

import errno
import os
import shutil
import socket
import time
import uuid
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from runs.metadata import process_alive

STAGING_PREFIX = ".push-"
# A version folder that already exists is never replaced: the push takes the next free second.
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR)


def is_local(path: str) -> bool:
    return "://" not in path


def staging_dir(base_directory: str) -> str:
    """A hidden sibling named after this machine and process, so a leftover can be told apart."""
    return os.path.join(base_directory,
                        f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def remove_abandoned_staging(base_directory: str) -> List[str]:
    """Deletes staging folders whose push died on this machine; returns what it removed.

    A staging folder of a live process (another push in progress) or of another machine
    (a shared filesystem) is left alone: no server loads it either way.
    """
    removed = []
    for name in os.listdir(base_directory):
        if not name.startswith(STAGING_PREFIX):
            continue
        host, _, pid = name[len(STAGING_PREFIX):].rpartition("-")[0].rpartition("-")
        if not pid.isdigit() or process_alive(host, int(pid)) is not False:
            continue
        shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
        removed.append(name)
    return removed


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(root: str) -> None:
    """Flushes every file and folder under root, so the renamed version survives a power cut too."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            _fsync(os.path.join(folder, name))
        _fsync(folder)


def rename_into_place(staging: str, base_directory: str, version: int) -> str:
    """Renames staging to <base>/<version>, or to the next free version if that one exists."""
    while True:
        target = os.path.join(base_directory, str(version))
        try:
            os.rename(staging, target)
            return target
        except OSError as e:
            if e.errno not in _TAKEN:
                raise
            version += 1


def push_atomically(model_path: str, base_directory: str) -> str:
    """Copies a SavedModel to <base>/<unix time>/ in one rename; returns the version folder."""
    os.makedirs(base_directory, exist_ok=True)
    remove_abandoned_staging(base_directory)
    staging = staging_dir(base_directory)
    try:
        io_utils.copy_dir(model_path, staging)
        sync_tree(staging)
        version_dir = rename_into_place(staging, base_directory, int(time.time()))
        _fsync(base_directory)
    except BaseException:  # a failed or interrupted push leaves nothing behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version_dir


class AtomicPushExecutor(pusher_executor.Executor):
    """TFX's Pusher executor with an atomic push to a local filesystem."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        filesystem = destination.filesystem
        if (destination.WhichOneof("destination") != "filesystem" or not is_local(filesystem.base_directory)
                or filesystem.versioning not in (pusher_pb2.Versioning.AUTO, pusher_pb2.Versioning.UNIX_TIMESTAMP)):
            return super().Do(input_dict, output_dict, exec_properties)
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return None
        model_path = self.GetModelPath(input_dict)
        version_dir = push_atomically(model_path, filesystem.base_directory)
        io_utils.copy_dir(model_path, model_push.uri)  # the archive copy TFX keeps with the artifact
        self._MarkPushed(model_push, pushed_destination=version_dir, pushed_version=os.path.basename(version_dir))
        return None


class AtomicPusher(Pusher):
    """TFX's Pusher component running AtomicPushExecutor (TFX's way to swap an executor)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
