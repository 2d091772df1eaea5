"""Continuous training you can watch: `make ct-demo` (python continuous_demo.py).

Generates three spans of penguins with `data.generate` (the third one shifted: longer
bills, more birds from Torgersen), starts `python -m pipeline.continuous` on an empty
dataset folder of spans, and then plays the life of a model: span 1 arrives and is
trained on; the pushed model is served and gets traffic; span 2 arrives; the traffic
drifts and the drift monitor alerts; span 3 arrives, and the run it starts records
"drift" as its trigger. The loop's own lines show each decision; at the end, the
history of the runs. Everything goes to --workdir (default outputs/ct-demo), which is
recreated on each run.
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import List, Optional

from runs import exit_codes
from runs.layout import DEFAULT_OUTPUT_DIR, OutputLayout

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
MARKER = ".ct-demo"  # only a folder this demo made is ever deleted
SPANS = 3
SHIFTED = ("bill_length_mm", "island")


def say(text: str) -> None:
    print(f"demo | {text}", flush=True)


class Loop:
    """`python -m pipeline.continuous` in the background, its lines echoed and kept."""

    def __init__(self, command: List[str]):
        self.lines: List[str] = []
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            print(f"loop | {line}", end="", flush=True)

    def wait_for_run(self, count: int, must_push: bool = False) -> None:
        """Until the loop's run number `count` has finished. Not blessed or stopped by anomalies is an
        outcome the demo shows; a failed run ends it, and so does no push when one is needed."""
        self.wait_for("run finished", count)
        finished = [line for line in self.lines if "run finished" in line][count - 1]
        code = int(finished.split("exit code ")[1].split(",")[0])
        if code in (exit_codes.FAILED, exit_codes.SMOKE_FAILED) or (must_push and code != exit_codes.OK):
            raise RuntimeError(f"the loop's run {count} ended with exit code {code}; see above")

    def wait_for(self, text: str, count: int = 1, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            if self.process.poll() is not None and not self._reader.is_alive():
                raise RuntimeError(f"the loop exited (code {self.process.returncode}) before printing {text!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the loop did not print {text!r} within {timeout:.0f} s")
            time.sleep(0.5)


class Traffic:
    """Requests to the served model from a background thread: normal rows, or shifted ones."""

    def __init__(self, port: int, model_name: str, normal, shifted):
        from serving.client import RestClient

        self.client = RestClient("127.0.0.1", port, model_name)
        self.rows = normal
        self.shifted = shifted
        self.sent = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def drift(self) -> None:
        self.rows = self.shifted

    def _send(self) -> None:
        i = 0
        while not self._stop.wait(0.05):
            try:
                self.client.predict_rows(self.rows[i % len(self.rows):i % len(self.rows) + 2])
                self.sent += 1
            except Exception:  # noqa: BLE001 - counted; a version switch must not show up here
                self.errors += 1
            i += 2

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def generate_spans(folder: str, rows: int) -> List[str]:
    """span-N.csv files (not yet in the dataset): two like the penguins, the third shifted."""
    from data import generate

    model = generate.fit(generate.DEFAULT_SOURCE)
    paths = []
    for span in range(1, SPANS + 1):
        shift = 1.0 if span == SPANS else 0.0
        frame = generate.sample(model, rows, seed=span, shift=shift, shift_features=SHIFTED if shift else None)
        path = os.path.join(folder, f"span-{span}.csv")
        frame.to_csv(path, index=False, float_format="%.1f")
        paths.append(path)
    return paths


def add_span(dataset: str, span: int, csv_path: str) -> None:
    """Copies the span in under a hidden name and renames it into place: the loop sees it whole."""
    staging = os.path.join(dataset, f".incoming-{span}")
    os.makedirs(staging)
    shutil.copy(csv_path, os.path.join(staging, "data.csv"))
    os.rename(staging, os.path.join(dataset, f"span-{span}"))
    say(f"span {span} arrived: {os.path.join(dataset, f'span-{span}')}")


def prepare(workdir: str) -> None:
    if os.path.exists(workdir):
        if not os.path.exists(os.path.join(workdir, MARKER)):
            raise ValueError(f"{workdir} exists and was not made by this demo; choose another --workdir")
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    open(os.path.join(workdir, MARKER), "w").close()


def run(workdir: str, rows: int, train_steps: int, monitor_every: int) -> int:
    from data.generate import DEFAULT_SOURCE
    from serving.raw_features import RawFeatures
    from serving.server import ModelServer
    from serving.synthetic_traffic import sample_rows

    prepare(workdir)
    dataset, output, incoming = (os.path.join(workdir, n) for n in ("dataset", "output", "incoming"))
    os.makedirs(dataset)
    os.makedirs(incoming)
    for name in ("dataset.yaml", "schema.pbtxt"):
        shutil.copy(os.path.join(DEFAULT_SOURCE, name), dataset)
    with open(os.path.join(dataset, "dataset.yaml"), "a") as f:
        f.write("# The demo trains on the two newest spans.\nspan_window: 2\n")
    say(f"generating {SPANS} spans of {rows} penguins (span {SPANS} shifted: {', '.join(SHIFTED)})")
    spans = generate_spans(incoming, rows)
    add_span(dataset, 1, spans[0])
    loop = Loop([sys.executable, "-m", "pipeline.continuous", "--dataset", dataset, "--output-dir", output,
                 "--train-steps", str(train_steps), "--poll", "2s", "--settle", "2s",
                 "--monitor-every", f"{monitor_every}s", "--max-runs", str(SPANS), "--no-smoke-test",
                 "--on-alert", "echo 'ALERT (the --on-alert hook): see'"])
    server = traffic = None
    try:
        loop.wait_for_run(1, must_push=True)
        layout = OutputLayout(output)
        model_name = "penguins"
        server = ModelServer(model_name, layout.model_base_path(model_name), grpc_port=0, rest_port=0,
                             poll_seconds=1.0, request_log_dir=layout.request_log_dir(model_name)).start()
        say(f"serving version {server.models.current.version} at {server.rest_url}; sending traffic")
        schema = RawFeatures.from_file(os.path.join(dataset, "schema.pbtxt"))
        traffic = Traffic(server.rest_port, model_name, sample_rows(schema.read_csv(spans[0]), 400),
                          sample_rows(schema.read_csv(spans[-1]), 400))
        add_span(dataset, 2, spans[1])
        loop.wait_for_run(2)
        say("the traffic drifts now (rows like span 3); waiting for the drift monitor")
        traffic.drift()
        loop.wait_for("drift check", 1 + sum("drift check" in line for line in loop.lines))
        loop.wait_for(": alert:")
        add_span(dataset, 3, spans[2])
        loop.wait_for_run(3)
        code = loop.process.wait(timeout=600)
        say(f"the loop stopped (exit code {code}); {traffic.sent} requests answered, {traffic.errors} failed, "
            f"now serving version {server.models.current.version}")
    finally:
        if traffic is not None:
            traffic.stop()
        if server is not None:
            server.stop()
        if loop.process.poll() is None:
            loop.process.terminate()
            loop.process.wait(timeout=600)
    say("history:")
    shown = subprocess.run([sys.executable, "-m", "runs.inspect", "history", "--output-dir", output],
                           cwd=REPO_ROOT, capture_output=True, text=True)
    print(shown.stdout, end="", flush=True)
    say(f"history page: {OutputLayout(output).history_report}")
    # A later run that is not blessed is part of the story (wait_for_run stopped the demo on a failure).
    return exit_codes.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=os.path.join(DEFAULT_OUTPUT_DIR, "ct-demo"),
                        help="where the demo's dataset and output go (recreated each time)")
    parser.add_argument("--rows", type=int, default=200, help="penguins per span (default 200)")
    parser.add_argument("--train-steps", type=int, default=100, help="training steps per run (default 100)")
    parser.add_argument("--monitor-every", type=int, default=20, metavar="SECONDS",
                        help="how often the loop checks drift (default 20)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(os.path.abspath(args.workdir), args.rows, args.train_steps, args.monitor_every)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT if isinstance(e, ValueError) else exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
