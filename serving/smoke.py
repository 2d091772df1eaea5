"""Smoke test of a pushed model: does it really serve, over REST and gRPC, correctly?

Starts the server on the pushed directory (free loopback ports, no request log),
checks status and signature, sends a batch of rows over REST (base64 tf.Examples and
raw-feature objects) and over gRPC, and compares every answer with calling the
SavedModel in-process. `smoke_test()` is importable without TFX, so a pipeline run
can call it at its end; `python -m serving.smoke --output-dir OUT` is the command.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

DEFAULT_ROWS = 32
LOADS = "server loads a version and opens REST + gRPC"
_ATOL = 1e-5


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SmokeResult:
    model_name: str
    model_base_path: str
    version: Optional[int] = None
    rows: int = 0
    checks: List[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> List[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def version_dir(self) -> Optional[str]:
        return None if self.version is None else os.path.join(self.model_base_path, str(self.version))

    def verdict(self) -> str:
        """One line: passed, or the first failed check and why."""
        if self.ok:
            return "passed"
        first = self.failures[0] if self.failures else Check("no check ran", False)
        return f"{first.name}" + (f": {first.detail}" if first.detail else "")

    def report(self) -> str:
        head = (f"Smoke test of model '{self.model_name}' version {self.version} "
                f"({self.model_base_path}), {self.rows} rows: {'PASSED' if self.ok else 'FAILED'}")
        lines = [head] + [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "")
                          for c in self.checks]
        return "\n".join(lines)


class SmokeTestFailed(RuntimeError):
    """Raised by smoke_test(raise_on_failure=True); carries the full result."""

    def __init__(self, result: SmokeResult):
        super().__init__(result.report())
        self.result = result


def smoke_test(model_base_path: str, model_name: str,
               rows: Union[str, Sequence[Mapping[str, Any]], None] = None, *,
               max_rows: int = DEFAULT_ROWS, raise_on_failure: bool = True,
               load_timeout_seconds: float = 120.0, metadata_config=None,
               version: Optional[int] = None) -> SmokeResult:
    """Serves `model_base_path` and checks that `version` (default: the newest there, the last
    pushed) serves, and serves correctly. The server would serve an older version in place of
    one that cannot load: that is a failure here, with the version's status message as reason.

    rows: a CSV path, raw-feature dicts, or None for the CSV the served version was
    trained on, found through ML Metadata (`metadata_config`, by default the store of
    the output folder whose serving_model/ holds the base path).
    """
    from serving.server import ModelServer
    from serving.server.registry import NoLoadableVersion
    from serving.server.versions import list_versions

    result = SmokeResult(model_name, os.path.abspath(model_base_path),
                         version or (list_versions(model_base_path) or [None])[0])
    server = None
    try:
        server = ModelServer(model_name, model_base_path, grpc_port=0, rest_port=0, request_log_dir=None)
        try:
            server.start(wait_for_model_seconds=load_timeout_seconds)
        except NoLoadableVersion as e:  # start() stopped the server; its message is the versions' reasons
            server = None
            result.checks.append(Check(LOADS, False, str(e)))
            return _finish(result, raise_on_failure)
        servable = server.models.current
        if servable.version != result.version:
            state = server.models.states(model_name, result.version)[0]
            result.checks.append(Check(LOADS, False, f"version {result.version} does not serve "
                                       f"({state.error_message or state.state}); version {servable.version} "
                                       f"serves in its place"))
            return _finish(result, raise_on_failure)
        result.checks.append(Check(LOADS, True,
                                   f"version {servable.version}, {server.rest_url}, {server.grpc_target}"))
        _run_checks(result, server, servable, rows, max_rows, metadata_config)
    except Exception as e:  # noqa: BLE001 - any failure becomes a reported check
        result.checks.append(Check("smoke test ran to completion", False, f"{type(e).__name__}: {e}"))
    finally:
        if server is not None:
            server.stop()
    return _finish(result, raise_on_failure)


def _finish(result: SmokeResult, raise_on_failure: bool) -> SmokeResult:
    if raise_on_failure and not result.ok:
        raise SmokeTestFailed(result)
    return result


def record(result: SmokeResult, store) -> Optional[str]:
    """Marks the run that pushed the tested version with the verdict in ML Metadata (see
    runs.records), so `inspect history` shows a push that does not serve; returns why it could
    not (a version no run of this store pushed), or None."""
    from runs import lineage, records

    if result.version_dir is None:
        return f"no version under {result.model_base_path} to mark"
    try:
        records.record_smoke_test(store, result.version_dir, result.ok, result.verdict())
    except lineage.LineageError as e:
        return str(e)
    return None


def _training_csv(version_dir: str, metadata_config) -> str:
    """The first CSV file the served version was trained on (MLMD lineage)."""
    from runs import lineage
    from runs.layout import OutputLayout
    from runs.store import MetadataConfig, open_store

    if metadata_config is None:
        layout = OutputLayout.of_model_base_path(os.path.dirname(version_dir))
        if layout is None:
            raise ValueError(f"no rows given, and {version_dir} is not under an output folder's serving_model/ "
                             f"to find its training data: pass rows (--csv)")
        metadata_config = MetadataConfig.for_output(layout.output_dir)
    return lineage.training_data_files(open_store(metadata_config, readonly=True), version_dir)[0]


def _run_checks(result: SmokeResult, server, servable, rows, max_rows: int, metadata_config) -> None:
    import tensorflow as tf

    from serving.client import GrpcClient, RestClient, grpc_predictions, named_rows
    from serving.contract import EXAMPLES_INPUT, SERVING_SIGNATURE

    features = servable.raw_features
    if features is None:
        result.checks.append(Check("model ships its raw schema (assets.extra/schema.pbtxt)", False,
                                   "missing; clients cannot know which features to send"))
        return
    if rows is None or isinstance(rows, str):
        rows = features.read_csv(rows or _training_csv(servable.path, metadata_config), limit=max_rows)
    rows = [dict(r) for r in list(rows)[:max_rows]]
    if not rows:
        raise ValueError("no rows to send")
    result.rows = len(rows)
    serialized = features.serialize(rows)

    # The floor: the same SavedModel called in this process, loaded independently.
    loaded = tf.saved_model.load(servable.path)
    expected = {k: v.numpy() for k, v in loaded.signatures[SERVING_SIGNATURE](
        **{EXAMPLES_INPUT: tf.constant(serialized)}).items()}

    rest = RestClient(server.host, server.rest_port, result.model_name)
    grpc_client = GrpcClient(server.grpc_target, result.model_name)
    try:
        status = rest.status()["model_version_status"]
        _check(result, "REST status reports the version AVAILABLE",
               any(s["version"] == str(servable.version) and s["state"] == "AVAILABLE" for s in status), status)
        rest_sig = rest.metadata()["metadata"]["signature_def"]["signature_def"].get(SERVING_SIGNATURE)
        ok = (rest_sig is not None and list(rest_sig["inputs"]) == [EXAMPLES_INPUT]
              and rest_sig["inputs"][EXAMPLES_INPUT]["dtype"] == "DT_STRING"
              and set(rest_sig["outputs"]) == set(expected))
        _check(result, f"signature '{SERVING_SIGNATURE}' takes serialized tf.Examples and has outputs "
                       f"{sorted(expected)}", ok, rest_sig)
        grpc_sig = _grpc_signature(grpc_client.metadata(), SERVING_SIGNATURE)
        _check(result, "gRPC GetModelMetadata gives the same signature", grpc_sig is not None
               and sorted(grpc_sig.outputs) == sorted(expected), grpc_sig)

        outputs = sorted(expected)
        _compare(result, "REST predict (base64 tf.Examples) matches in-process call",
                 named_rows(rest.predict_examples(serialized), outputs), expected)
        _compare(result, "REST predict (raw feature objects) matches in-process call",
                 named_rows(rest.predict_rows(rows), outputs), expected)
        _compare(result, "gRPC Predict matches in-process call",
                 grpc_predictions(grpc_client.predict_examples(serialized)), expected)
    finally:
        rest.close()
        grpc_client.close()


def _grpc_signature(response, name: str):
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    return signature_map.signature_def[name] if name in signature_map.signature_def else None


def _check(result: SmokeResult, name: str, ok: bool, evidence: Any) -> None:
    result.checks.append(Check(name, bool(ok), "" if ok else f"got {str(evidence)[:300]}"))


def _compare(result: SmokeResult, name: str, predictions: List[Dict[str, Any]],
             expected: Mapping[str, np.ndarray]) -> None:
    """Shapes and values of per-row predictions against the in-process outputs."""
    n = len(next(iter(expected.values())))
    problems = []
    if len(predictions) != n:
        problems.append(f"{len(predictions)} predictions for {n} rows")
    for key, want in expected.items():
        if problems:
            break
        got = [p.get(key) for p in predictions]
        if want.dtype == object:
            want_list = [w.decode() for w in want]
            if got != want_list:
                problems.append(f"'{key}' differs: {got[:3]} vs {want_list[:3]}")
            continue
        got_array = np.asarray(got, dtype=np.float64)
        if got_array.shape != want.shape:
            problems.append(f"'{key}' has shape {got_array.shape}, expected {want.shape}")
        elif not np.allclose(got_array, want, atol=_ATOL):
            problems.append(f"'{key}' differs by up to {np.max(np.abs(got_array - want)):.2e}")
    result.checks.append(Check(name, not problems, "; ".join(problems) or f"{n} rows, outputs "
                               + ", ".join(f"{k}{list(v.shape)}" for k, v in sorted(expected.items()))))


def build_parser() -> argparse.ArgumentParser:
    from runs.cli import add_model_name
    from runs.store import add_store_arguments

    p = argparse.ArgumentParser(prog="python -m serving.smoke", description=__doc__.split("\n\n")[0])
    add_store_arguments(p, "the pipeline output dir (holds serving_model/); default ./outputs")
    add_model_name(p)
    p.add_argument("--csv", default=None,
                   help="rows to send (default: the CSV the served version was trained on, from ML Metadata)")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="how many rows to send")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    from runs import exit_codes
    from runs.layout import LayoutError, OutputLayout
    from runs.store import StoreError, open_store, output_dir_from_args, store_from_args

    args = build_parser().parse_args(argv)
    try:
        base_path, model_name = OutputLayout(output_dir_from_args(args)).served_model(args.model_name)
        metadata_config = store_from_args(args)
    except (LayoutError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    result = smoke_test(base_path, model_name, args.csv, max_rows=args.rows, raise_on_failure=False,
                        metadata_config=metadata_config)
    print(result.report())
    try:
        open_store(metadata_config, readonly=True)  # a missing store is reported, never created empty
        unmarked = record(result, open_store(metadata_config))
    except StoreError as e:
        unmarked = str(e)
    if unmarked:
        print(f"note: the verdict is not recorded in ML Metadata: {unmarked}", file=sys.stderr)
    return exit_codes.OK if result.ok else exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
