"""Server-side dynamic batching, with TF Serving's flags, file format and defaults.

One TensorFlow call per request caps throughput at the single-row call rate (about
1,000 calls/s here) while a 64-row call costs barely more than a 1-row one. With
`--enable_batching`, requests from REST and gRPC wait in one queue per (version,
signature, input shapes); a batch thread takes as many queued requests as fit in
`max_batch_size` rows (waiting at most `batch_timeout_micros` for more), runs them as
one call and hands each caller exactly its own rows back. A full queue answers
UNAVAILABLE at once instead of queueing without bound; a request larger than
`max_batch_size` is refused as TF Serving refuses it (no large-batch splitting).

`--batching_parameters_file` is TF Serving's text `BatchingParameters` message
(session_bundle_config.proto): `max_batch_size { value: 64 }`, `batch_timeout_micros`,
`max_enqueued_batches`, `num_batch_threads`, `allowed_batch_sizes: 8` (repeated; the last
must equal max_batch_size; a batch is padded up to the next allowed size), and
`pad_variable_length_inputs` (accepted; requests whose inner dimensions differ are
batched apart rather than padded, which gives the same answers).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf import wrappers_pb2  # noqa: F401 - registers the wrapper types the file uses

from serving.server.errors import ServingError, invalid_argument

log = logging.getLogger(__name__)

Input = Union[tf.Tensor, np.ndarray]
Outputs = Dict[str, Input]
RunBatch = Callable[[Mapping[str, Input]], Outputs]


def _batching_parameters_class():
    """TF Serving's BatchingParameters message, declared here (the pip API package lacks it)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="serving_local/batching_parameters.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    msg = file.message_type.add(name="BatchingParameters")
    for number, (name, wrapper) in enumerate(
            [("max_batch_size", "Int64Value"), ("batch_timeout_micros", "Int64Value"),
             ("max_enqueued_batches", "Int64Value"), ("num_batch_threads", "Int64Value"),
             ("thread_pool_name", "StringValue")], start=1):
        msg.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                      type_name=f".google.protobuf.{wrapper}", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    msg.field.add(name="allowed_batch_sizes", number=6, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    msg.field.add(name="pad_variable_length_inputs", number=7, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParametersProto = _batching_parameters_class()


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's defaults (BasicBatchScheduler::Options) unless the file says otherwise."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: Tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    @classmethod
    def from_text(cls, text: str, source: str = "batching parameters") -> "BatchingParameters":
        """Parses the text format; raises ValueError naming the line at fault or the bad value."""
        try:
            proto = text_format.Parse(text, BatchingParametersProto())
        except text_format.ParseError as e:
            raise ValueError(f"{source}: {e}") from None
        values = {name: getattr(proto, name).value for name in
                  ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")
                  if proto.HasField(name)}
        params = cls(**values, allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
                     pad_variable_length_inputs=proto.pad_variable_length_inputs)
        params.validate(source)
        return params

    @classmethod
    def from_file(cls, path: str) -> "BatchingParameters":
        try:
            with open(path) as f:
                return cls.from_text(f.read(), source=path)
        except OSError as e:
            raise ValueError(f"cannot read --batching_parameters_file {path}: {e.strerror}") from None

    def validate(self, source: str) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{source}: {name} must be positive, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"{source}: batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
                raise ValueError(f"{source}: allowed_batch_sizes must be positive and increasing, got {list(sizes)}")
            if sizes[-1] != self.max_batch_size:
                raise ValueError(f"{source}: the last allowed_batch_sizes entry ({sizes[-1]}) must equal "
                                 f"max_batch_size ({self.max_batch_size})")

    def padded_size(self, rows: int) -> int:
        return next((size for size in self.allowed_batch_sizes if size >= rows), rows)


Done = Callable[[Union[Dict[str, np.ndarray], BaseException]], None]  # the caller's rows, or the failure


@dataclass
class _Task:
    inputs: Mapping[str, Input]
    rows: int
    done: Done  # called on `loop` when there is one, else on the batch thread
    loop: Optional[asyncio.AbstractEventLoop] = None
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class _Queue:
    key: Hashable
    run: RunBatch
    tasks: Deque[_Task] = field(default_factory=deque)


QueueListener = Callable[[float, int], None]  # (seconds a request waited, rows of the batch it ran in)


class Batcher:
    """Queues compatible requests and runs them together on `num_batch_threads` threads."""

    def __init__(self, params: BatchingParameters, on_batch: Optional[QueueListener] = None):
        self.params = params
        self._on_batch = on_batch or (lambda waited, rows: None)
        self._cond = threading.Condition()
        self._queues: Dict[Hashable, _Queue] = {}
        self._enqueued_rows = 0
        self._stopped = False
        self._threads = [threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
                         for i in range(params.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Hashable, run: RunBatch, inputs: Mapping[str, Input], rows: int,
               loop: Optional[asyncio.AbstractEventLoop] = None, done: Optional[Done] = None
               ) -> Optional[Future]:
        """Queues one request's rows. Without `done`, the returned future gets exactly its rows
        of every output. With `done` there is no future: `done` gets the rows, or the exception,
        on `loop` when one is given (a batch wakes each loop once, not once per request), else
        on the batch thread."""
        limit = self.params.max_batch_size
        if rows > limit:
            raise invalid_argument(f"Task size {rows} is larger than maximum input batch size {limit}")
        future = None
        if done is None:
            future = Future()
            done = functools.partial(settle, future)
        with self._cond:
            if self._stopped:
                raise ServingError("UNAVAILABLE", "The server is shutting down")
            if self._enqueued_rows + rows > limit * self.params.max_enqueued_batches:
                raise ServingError("UNAVAILABLE", "The batch scheduling queue to which this task was submitted "
                                                  "is full")
            queue = self._queues.setdefault(key, _Queue(key, run))
            queue.tasks.append(_Task(inputs, rows, done, loop))
            self._enqueued_rows += rows
            self._cond.notify()
        return future

    def stop(self) -> None:
        """Runs what is queued, then ends the batch threads."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    def _ready(self, now: float) -> Tuple[Optional[_Queue], float]:
        """The queue whose oldest request waited longest, if it is due; else how long to wait."""
        oldest = min((q for q in self._queues.values() if q.tasks), key=lambda q: q.tasks[0].enqueued, default=None)
        if oldest is None:
            return None, None
        due = oldest.tasks[0].enqueued + self.params.batch_timeout_micros / 1e6
        if self._stopped or now >= due or sum(t.rows for t in oldest.tasks) >= self.params.max_batch_size:
            return oldest, 0.0
        return None, due - now

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    queue, wait = self._ready(time.monotonic())
                    if queue is not None:
                        break
                    if self._stopped:
                        return
                    self._cond.wait(wait)
                batch: List[_Task] = []
                rows = 0
                while queue.tasks and rows + queue.tasks[0].rows <= self.params.max_batch_size:
                    task = queue.tasks.popleft()
                    batch.append(task)
                    rows += task.rows
                self._enqueued_rows -= rows
                if not queue.tasks:  # a switched-away version's queue does not linger
                    del self._queues[queue.key]
            self._run(queue.run, batch, rows)

    def _run(self, run: RunBatch, batch: Sequence[_Task], rows: int) -> None:
        started = time.monotonic()
        for task in batch:
            self._on_batch(started - task.enqueued, rows)
        try:
            padded = self.params.padded_size(rows)
            names = list(batch[0].inputs)
            inputs = {name: _concat([t.inputs[name] for t in batch], padded - rows) for name in names}
            outputs = {key: value if isinstance(value, np.ndarray) else value.numpy()
                       for key, value in run(inputs).items()}
            results: list = []
            offset = 0
            for task in batch:
                results.append(_rows(outputs, offset, task.rows, padded))
                offset += task.rows
        except BaseException as e:  # noqa: BLE001 - every caller of the batch gets the failure
            results = [e] * len(batch)
        by_loop: Dict[asyncio.AbstractEventLoop, list] = {}
        for task, result in zip(batch, results):
            if task.loop is None:
                _settle_all([(task, result)])
            else:
                by_loop.setdefault(task.loop, []).append((task, result))
        for loop, settled in by_loop.items():
            call_soon_threadsafe(loop, _settle_all, settled)


def call_soon_threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[[Any], None], arg: Any) -> None:
    """loop.call_soon_threadsafe(fn, arg), unless the loop was closed meanwhile (the server
    stopped): then nobody waits for the answer."""
    try:
        loop.call_soon_threadsafe(fn, arg)
    except RuntimeError:
        pass


def settle(future, result) -> None:
    """Gives the future its result, or its exception when the result is one."""
    if future.done():  # an asyncio caller that went away cancelled it
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _settle_all(settled) -> None:
    for task, result in settled:
        try:
            task.done(result)
        except Exception:  # noqa: BLE001 - one caller's bug must not leave the others unanswered
            log.exception("A batched request's completion failed")


def _concat(parts: List[Input], padding: int) -> Input:
    """Stacks the requests' rows; pads with copies of the first row up to an allowed size.
    Numpy parts (serialized examples) stay numpy: one conversion per batch, in the call."""
    if isinstance(parts[0], np.ndarray):
        if padding:
            parts = parts + [np.repeat(parts[0][:1], padding, axis=0)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    if padding:
        parts = parts + [tf.repeat(parts[0][:1], padding, axis=0)]
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)


def _rows(outputs: Mapping[str, np.ndarray], offset: int, rows: int, batch_rows: int) -> Dict[str, np.ndarray]:
    sliced = {}
    for key, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != batch_rows:
            raise ServingError("INTERNAL", f"Batched output '{key}' has shape {list(value.shape)}; batching needs "
                                           f"every output to have the batch size {batch_rows} as first dimension")
        sliced[key] = value[offset:offset + rows]
    return sliced
