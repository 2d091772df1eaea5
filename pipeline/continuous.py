"""The continuous-training loop: `python -m pipeline.continuous --dataset DIR --output-dir DIR`.

Runs the pipeline when it should, one run at a time, in this process (TFX is imported
once):
- new data: a `span-<N>/` folder whose files have stopped changing (`--settle`), or a
  span (or a folder without spans) whose files changed since ExampleGen read them;
- a schedule (`--every 6h`): cached components make a run without new data cheap;
- an alert: every `--monitor-every` the drift monitor (`monitoring.drift`) reads the
  recent request log, and with `--labels FILE` the live-quality check
  (`monitoring.live_quality`) joins the labels that arrived; an alert is recorded in ML
  Metadata, runs `--on-alert 'command'` with the report's path as its argument, and
  makes the next run's trigger "drift" (or "live quality"). Retraining on the same data
  is pointless, so an alert alone retrains only with `--retrain-on-drift`.

`--once` does what is pending (new data) and exits: 0 after a push, 0 with "nothing
new", the pipeline's own exit codes otherwise. `--max-runs N` bounds the loop.
SIGINT/SIGTERM stop it after the current run. The loop holds the output folder's run
lock for its whole life, so no other run writes the same store meanwhile. The monitors
(`python -m monitoring.drift`, `monitoring.live_quality`) and the smoke test run as commands:
the pipeline package imports neither serving nor monitoring, and reads a monitor's result
file (runs/layout.py: OutputLayout.monitoring_result) by the keys monitoring/result_file.py
documents.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, TextIO

from pipeline import partial_run
from pipeline.config import ConfigError, PipelineConfig
from pipeline.config_flags import add_config_arguments, config_from_args
from pipeline.span_plan import SettleWatch
from runs import durations, exit_codes, records

NEW_DATA = "new span"
SCHEDULE = "schedule"
DRIFT = "drift"
LIVE_QUALITY = "live quality"


def duration(text: str) -> float:
    try:
        return durations.seconds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.continuous", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    partial_run.refuse_arguments(parser, "the continuous loop runs whole pipelines, each reusing what the cache and the span window allow")
    loop = parser.add_argument_group("the loop")
    loop.add_argument("--once", action="store_true", help="do what is pending (new data) and exit")
    loop.add_argument("--every", type=duration, metavar="DURATION", help="also run on a schedule, e.g. 6h")
    loop.add_argument("--poll", type=duration, default=30.0, metavar="DURATION",
                      help="how often to look for new data (default 30s)")
    loop.add_argument("--settle", type=duration, default=30.0, metavar="DURATION",
                      help="a span folder is read once its files have not changed for this long (default 30s)")
    loop.add_argument("--max-runs", type=int, metavar="N", help="stop after N runs")
    monitoring = parser.add_argument_group("monitoring the served model")
    monitoring.add_argument("--monitor-every", type=duration, metavar="DURATION",
                            help="run the drift monitor over the request log of the last DURATION, every DURATION")
    monitoring.add_argument("--labels", metavar="FILE",
                            help="with --monitor-every: also check live quality against these delayed labels "
                                 "(python -m monitoring.live_quality)")
    monitoring.add_argument("--on-alert", metavar="COMMAND",
                            help="shell command run on an alert, with the report's path as its last argument")
    monitoring.add_argument("--retrain-on-drift", action="store_true",
                            help="retrain as soon as the monitors alert (default: the next run records the alert "
                                 "as its trigger)")
    parser.add_argument("--no-smoke-test", dest="smoke_test", action="store_false",
                        help="skip serving each pushed model once over REST and gRPC to check it")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow, Beam and TFX logs")
    return parser


@dataclass
class Decision:
    trigger: str
    detail: str
    spans: Optional[List[int]] = None  # None: whatever is pending (nothing: train on the window again)


@dataclass
class Loop:
    config: PipelineConfig
    store: object
    args: argparse.Namespace
    out: TextIO = sys.stdout
    stop: threading.Event = field(default_factory=threading.Event)
    runs: int = 0
    last_run: Optional[float] = None
    alert: Optional[Decision] = None
    watch: Optional[SettleWatch] = None
    _said: Dict[str, str] = field(default_factory=dict)
    _failed: Dict[int, str] = field(default_factory=dict)  # span -> fingerprint of files a run failed on

    def __post_init__(self):
        self.watch = self.watch or SettleWatch(self.args.settle)

    def say(self, text: str, key: Optional[str] = None) -> None:
        """One decision line; with a key, only when it differs from the last line said under that key."""
        if key is not None:
            if self._said.get(key) == text:
                return
            self._said[key] = text
        print(f"[{datetime.now().strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)

    # ---- deciding ----

    def new_data(self) -> Optional[Decision]:
        from pipeline import span_plan

        dataset = self.config.dataset
        try:
            dataset.validate()
        except ConfigError as e:
            self.say(f"new data not read: {e}", key="invalid")
            return None
        self._said.pop("invalid", None)
        pending = span_plan.pending_spans(self.config, self.store, dataset.spans or (0,))
        ready = []
        for span in pending:
            folder = dataset.span_folder(span) if span else dataset.folder
            if self._failed.get(span) == span_plan.fingerprint(self.config, span):
                self.say(f"span {span}: its files made the last run fail; waiting for them to change",
                         key=f"failed-{span}")
                break
            if not self.watch.settled(folder):
                self.say(f"span {span}: files still changing; waiting {self.args.settle:g} s after the last change",
                         key=f"settling-{span}")
                break
            ready.append(span)
        if not ready:
            return None
        what = (f"span {span_plan.span_list(ready)}" if dataset.spans else "files changed")
        return Decision(NEW_DATA if dataset.spans else "new data", f"{what} ready", ready)

    def decide(self, now: float) -> Optional[Decision]:
        decision = self.new_data()
        every = self.args.every
        if decision is None and every and (self.last_run is None or now - self.last_run >= every):
            decision = Decision(SCHEDULE, f"every {durations.text(every)}")
        if decision is None and self.alert is not None and self.args.retrain_on_drift:
            decision = Decision(self.alert.trigger, self.alert.detail)
        elif decision is not None and self.alert is not None:
            decision = Decision(self.alert.trigger, f"{self.alert.detail}; then {decision.trigger}: {decision.detail}",
                                decision.spans)
        return decision

    # ---- running ----

    def run_pipeline(self, decision: Decision) -> int:
        from pipeline import local_run, preflight, span_plan

        self.say(f"run: {decision.trigger} ({decision.detail})")
        try:  # the data as it is now, new spans included
            config, data_check = preflight.check(self.config)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return exit_codes.BAD_INPUT
        config = self.tuning(config)
        result = local_run.run(config, store=self.store, verbose=self.args.verbose, out=self.out,
                               trigger=decision.trigger, trigger_detail=decision.detail, spans=decision.spans,
                               data_check=data_check)
        self.runs += 1
        self.last_run = time.time()
        self.alert = None
        for span in decision.spans or []:
            if result.exit_code == exit_codes.FAILED and span not in result.ingested:
                self._failed[span] = span_plan.fingerprint(self.config, span)
        code = result.exit_code
        if code == exit_codes.OK and result.pushed_version and self.args.smoke_test \
                and "://" not in self.config.serving_dir:
            code = self.smoke_test()
        self.say(f"run finished: exit code {code}" + (f", pushed version {result.pushed_version}"
                                                       if result.pushed_version else ""))
        return code

    def tuning(self, config: PipelineConfig) -> PipelineConfig:
        """Spans do not re-tune each time: with tuning configured, a run tunes only when nothing was tuned
        yet or --tune asks for it; otherwise it reuses the latest tuned hyperparameters from ML Metadata."""
        from runs.tuning import latest_hyperparameters

        latest = latest_hyperparameters(self.store, config.pipeline_name)
        if not config.tuning.enabled or self.args.tune or latest is None:
            return config
        self.say(f"tuning: reusing the latest tuned hyperparameters (artifact {latest}); --tune searches again",
                 key="tuning")
        return dataclasses.replace(config, tuning=dataclasses.replace(config.tuning, enabled=False))

    def command(self, module: str, *extra: str) -> List[str]:
        """`python -m <module>` on this output folder and metadata store."""
        metadata = self.config.metadata
        flags = ["--output-dir", self.config.output_dir, "--model-name", self.config.model_name]
        if metadata.mysql_host:
            flags += ["--mysql-host", metadata.mysql_host, "--mysql-port", str(metadata.mysql_port),
                      "--mysql-database", metadata.mysql_database, "--mysql-user", metadata.mysql_user,
                      "--mysql-password", metadata.mysql_password]
        elif metadata.sqlite_path != self.config.layout.metadata_sqlite:
            flags += ["--sqlite", metadata.sqlite_path]
        return [sys.executable, "-m", module, *flags, *extra]

    def smoke_test(self) -> int:
        done = subprocess.run(self.command("serving.smoke"), capture_output=True, text=True)
        first = (done.stdout.strip().splitlines() or [""])[0]
        if done.returncode == exit_codes.OK:
            self.say(first)
            return exit_codes.OK
        print(done.stdout + done.stderr, file=self.out, flush=True)
        return exit_codes.SMOKE_FAILED

    # ---- monitoring ----

    def monitor(self) -> None:
        """Drift (and, with --labels, live quality) over the last --monitor-every; alerts as the doc says.

        Nothing to check before a model is served.
        """
        if not os.path.isdir(self.config.serving_dir) or not os.listdir(self.config.serving_dir):
            return
        now = datetime.now(timezone.utc)
        # Milliseconds, as the request log stamps: a window cut to the second would drop the
        # requests of the second the check starts in.
        since = (now - timedelta(seconds=self.args.monitor_every)).isoformat(timespec="milliseconds")
        until = now.isoformat(timespec="milliseconds")
        checks = [(DRIFT, "drift", self.command("monitoring.drift", "--since", since, "--until", until))]
        if self.args.labels:
            checks.append((LIVE_QUALITY, "live_quality", self.command(
                "monitoring.live_quality", "--labels", self.args.labels, "--since", since, "--until", until)))
        for kind, check, command in checks:
            done = subprocess.run(command, capture_output=True, text=True)
            result = _fresh_result(self.config.layout.monitoring_result(self.config.model_name, check), now)
            report = next((p for p in result.get("report_files", []) if p.endswith(".md")), None)
            if done.returncode == exit_codes.OK:
                verdict, detail = "clean", "nothing found"
            elif done.returncode == exit_codes.FOUND:
                verdict, detail = "alert", _finding(result)
            else:
                verdict = "not checked"
                detail = (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]
            records.record_check(self.store, self.config.pipeline_name, kind, verdict, since=since, until=until,
                                 report=report or "", detail=detail)
            self.say(f"{kind} check {since} .. {until}: {verdict}: {detail}" + (f" (report {report})" if report else ""))
            if verdict == "alert":
                self.alert = Decision(kind, f"{kind} found at {until}: {detail}")
                self.say(f"next run's trigger: {kind}" + ("; retraining now" if self.args.retrain_on_drift else ""))
                self.run_hook(kind, report)

    def run_hook(self, kind: str, report: Optional[str]) -> None:
        if not self.args.on_alert:
            return
        command = self.args.on_alert + (" " + shlex.quote(report) if report else "")
        done = subprocess.run(command, shell=True, env={**os.environ, "ALERT_KIND": kind, "ALERT_REPORT": report or ""})
        self.say(f"--on-alert hook exited {done.returncode}")

    # ---- the loop ----

    def loop(self) -> int:
        code = exit_codes.OK
        last_check = None
        self.last_run = self.last_run or _newest_run_start(self.store, self.config.pipeline_name)
        while not self.stop.is_set():
            every = self.args.monitor_every
            if every and not self.args.once and (last_check is None or time.monotonic() - last_check >= every):
                last_check = time.monotonic()
                self.monitor()
            decision = self.decide(time.time())
            if decision is not None:
                code = self.run_pipeline(decision)
                if self.args.once or (self.args.max_runs and self.runs >= self.args.max_runs):
                    if not self.args.once:
                        self.say(f"stopping: {self.runs} runs (--max-runs)")
                    return code
            elif self.args.once:
                self.say("nothing new: every span is ingested and no files changed; nothing to do")
                return exit_codes.OK
            self.stop.wait(self.args.poll)
        self.say(f"stopped cleanly after {self.runs} runs")
        return exit_codes.OK


def _newest_run_start(store, pipeline_name: str) -> Optional[float]:
    """When this pipeline's newest run started (epoch seconds): a schedule counts from it across restarts."""
    from runs import metadata

    runs = metadata.pipeline_runs(store, pipeline_name)
    return metadata.run_context(store, runs[0]).create_time_since_epoch / 1000 if runs else None


def _fresh_result(path: str, started: datetime) -> Dict[str, Any]:
    """A monitor's result file, when it was written by the check started at `started`; else {}.

    An older file is the previous check's: a check that could not run writes none.
    """
    try:
        with open(path) as f:
            result = json.load(f)
        checked_at = datetime.fromisoformat(result["checked_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return result if checked_at >= started else {}


def _finding(result: Dict[str, Any]) -> str:
    """What a monitor found, by its result's documented keys (monitoring/result_file.py)."""
    found = [f"{what} in {', '.join(result[key])}" for what, key in
             (("drifted", "drifted_features"), ("anomalous", "anomalous_features")) if result.get(key)]
    skewed = (result.get("tfdv") or {}).get("skew_threshold_exceeded")
    if skewed:  # TFDV's comparator is reported beside the alert, never the cause of one
        found.append(f"TFDV skew threshold exceeded in {', '.join(skewed)}")
    if not found and result.get("summary"):
        found.append(str(result["summary"]))
    return "; ".join(found) or "alert (see the report)"


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if args.verbose else "3"
    os.environ["GLOG_minloglevel"] = "0" if args.verbose else "3"
    if args.labels and not args.monitor_every:
        print("error: --labels needs --monitor-every (how often to check live quality)", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.max_runs is not None and args.max_runs < 1:
        print("error: --max-runs must be at least 1", file=sys.stderr)
        return exit_codes.BAD_INPUT
    try:
        config = config_from_args(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    from pipeline.local_run import open_for_run, quiet_logs

    quiet_logs(args.verbose)
    opened = open_for_run(config)
    if opened is None:
        return exit_codes.BAD_INPUT
    store, lock = opened
    loop = Loop(config, store, args, out)

    def stop(signum, _frame):
        loop.stop.set()
        loop.say(f"{signal.Signals(signum).name}: stopping after the current run")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if lock.stale_note():
            loop.say(lock.stale_note())
        mode = "once" if args.once else "watching"
        loop.say(f"continuous training ({mode}): dataset {config.dataset.folder}, output {config.output_dir}")
        return loop.loop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
