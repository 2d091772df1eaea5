"""Partial runs (pipeline/partial_run.py): which nodes run, which are reused from which run, and the refusals.

The node ids come from the compiled pipeline, never from a list kept here (other nodes may be
added to create_pipeline); the reuse plan is checked against a store shaped like TFX's."""
import importlib
import os
import subprocess
import sys

import pytest

import local_runner
from pipeline import partial_run, preflight
from pipeline.config import load_config
from pipeline.partial_run import PartialRun, PartialRunError
from pipeline.pipeline import create_pipeline
from pipeline.run_record import compile_run
from runs import exit_codes
from tests.conftest import REPO_ROOT
from tests.mlmd_fake import COMPLETE, FAILED, FakeTfxStore


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    config = preflight.check(load_config(None, {"output_dir": str(tmp_path_factory.mktemp("out"))}))[0]
    return compile_run(create_pipeline(config))[0]


def _order(ir):
    return [n.pipeline_node.node_info.id for n in ir.nodes]


def _after(ir, node):
    order = _order(ir)
    return order[order.index(node):]


def test_from_trainer_runs_the_trainer_and_what_follows_and_reuses_what_feeds_it(ir):
    selection = partial_run.select_in(ir, PartialRun(from_nodes=("Trainer",)))
    assert {"Trainer", "Evaluator", "Pusher"} <= set(selection.to_run)
    assert not {"CsvExampleGen", "Transform", "StatisticsGen"} & set(selection.to_run)
    assert {"CsvExampleGen", "Transform", "ExampleValidator"} <= set(selection.reuse)
    # The Evaluator's baseline is resolved again: the model blessed now, not the one before the reused run;
    # and so are the Trainer's hyperparameters: the latest tuned ones.
    assert selection.refreshed == ["latest_blessed_model_resolver", "latest_hyperparameters_resolver"]
    assert set(selection.to_run) | set(selection.reuse) == set(_order(ir))


def test_to_transform_runs_only_what_transform_needs_and_reuses_nothing(ir):
    selection = partial_run.select_in(ir, PartialRun(to_nodes=("Transform",)))
    assert "Transform" in selection.to_run and "CsvExampleGen" in selection.to_run
    assert not {"Trainer", "Evaluator", "Pusher"} & set(selection.to_run)
    assert selection.reuse == [] and selection.refreshed == []


def test_only_evaluator_runs_the_evaluator_with_the_model_it_reuses(ir):
    selection = partial_run.select_in(ir, PartialRun(("Evaluator",), ("Evaluator",)))
    assert "Trainer" in selection.reuse and "Evaluator" in selection.to_run
    assert "Trainer" not in selection.to_run and "Pusher" not in selection.to_run
    assert PartialRun(("Evaluator",), ("Evaluator",)).describe() == "only Evaluator"


def test_unknown_node_lists_the_valid_ones(ir):
    with pytest.raises(PartialRunError) as e:
        partial_run.select_in(ir, PartialRun(from_nodes=("Trainr",)))
    assert "no node Trainr" in str(e.value) and ", ".join(_order(ir)) in str(e.value)


def test_from_after_to_is_refused(ir):
    with pytest.raises(PartialRunError, match="--from Trainer comes after --to Transform"):
        partial_run.select_in(ir, PartialRun(("Trainer",), ("Transform",)))


def test_run_options_name_the_range_and_the_run_to_reuse(ir):
    selection = partial_run.select_in(ir, PartialRun(from_nodes=("Trainer",)))
    options = partial_run.Plan(selection, "run-1").run_options().partial_run
    assert list(options.from_nodes) == ["Trainer", "latest_blessed_model_resolver", "latest_hyperparameters_resolver"]
    assert options.snapshot_settings.base_pipeline_run_strategy.base_run_id == "run-1"


def _record(fake, run_id, nodes, failed=()):
    run = fake.run(run_id)
    ids = {}
    for node in nodes:
        outputs = fake.execute(run, node, state=FAILED if node in failed else COMPLETE,
                               outputs={"out": fake.artifact("Thing", f"/{run_id}/{node}")})
        ids[node] = outputs["out"].id
    return ids


def test_plan_reuses_the_newest_run_in_which_every_needed_node_finished(ir, tmp_path):
    selection = partial_run.select_in(ir, PartialRun(from_nodes=("Trainer",)))
    config = load_config(None, {"output_dir": str(tmp_path)})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    complete = _record(fake, "r1", _order(ir))
    _record(fake, "r2", selection.reuse, failed=("Transform",))  # the newest run stopped at Transform
    plan = partial_run.plan(config, selection, fake.store)
    assert plan.base_run == "r1"
    assert plan.reused_artifacts["Transform"] == [complete["Transform"]]
    assert plan.trigger == "partial from Trainer" and plan.detail == "reuses run r1"
    assert f"Transform #{complete['Transform']}" in "\n".join(plan.lines())


def test_plan_names_the_node_to_run_first_when_no_run_produced_the_inputs(ir, tmp_path):
    selection = partial_run.select_in(ir, PartialRun(("Evaluator",), ("Evaluator",)))
    config = load_config(None, {"output_dir": str(tmp_path)})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    _record(fake, "r1", _order(ir)[:_order(ir).index("Trainer")])  # stopped before the Trainer
    with pytest.raises(PartialRunError, match="Evaluator needs the outputs of Trainer, which no earlier run "
                                              "produced: run local_runner.py --from Trainer"):
        partial_run.plan(config, selection, fake.store)


def test_plan_refuses_a_store_without_runs(ir, tmp_path):
    selection = partial_run.select_in(ir, PartialRun(from_nodes=("Trainer",)))
    config = load_config(None, {"output_dir": str(tmp_path)})
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"), config.pipeline_name)
    with pytest.raises(PartialRunError, match="no earlier run of .* run the whole pipeline first"):
        partial_run.plan(config, selection, fake.store)


@pytest.mark.parametrize("flags, expected", [
    (["--from", "Nope"], "no node Nope in this pipeline; its nodes, in order: CsvExampleGen"),
    (["--from", "Trainer", "--to", "Transform"], "--from Trainer comes after --to Transform"),
    (["--from", "Trainer"], "no earlier run of penguins-pipeline"),
])
def test_local_runner_refuses_in_one_line_and_writes_nothing(tmp_path, capsys, flags, expected):
    output = tmp_path / "out"
    assert local_runner.main(["--output-dir", str(output), *flags]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not output.exists()


def test_local_runner_refuses_while_another_run_holds_the_lock(tmp_path, capsys):
    config = load_config(None, {"output_dir": str(tmp_path)})
    FakeTfxStore(config.metadata.sqlite_path, config.pipeline_name)
    before = os.path.getmtime(config.metadata.sqlite_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom runs.lock import RunLock\nfrom pipeline.config import load_config\n"
        f"c = load_config(None, {{'output_dir': {str(tmp_path)!r}}})\n"
        "lock = RunLock.for_output(c.layout, c.metadata).acquire()\nprint('held', flush=True)\ntime.sleep(60)\n")],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert local_runner.main(["--output-dir", str(tmp_path), "--from", "Trainer"]) == exit_codes.BAD_INPUT
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.startswith("error: another run is using") and len(err.strip().splitlines()) == 1
    assert os.path.getmtime(config.metadata.sqlite_path) == before


@pytest.mark.parametrize("module, why", [("pipeline.continuous", "the continuous loop runs whole pipelines"),
                                         ("kubeflow_runner", "a cluster run is the whole pipeline")])
@pytest.mark.parametrize("flag", ["--from", "--to", "--only"])
def test_the_loop_and_the_cluster_runner_refuse_the_flags(module, why, flag, capsys):
    parser = importlib.import_module(module).build_parser()
    with pytest.raises(SystemExit) as e:
        parser.parse_args([flag, "Trainer"])
    assert e.value.code == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} is for local_runner.py: {why}") and len(err.strip().splitlines()) == 1


def test_progress_says_reused_before_the_range_and_not_run_after_it():
    import io
    import logging

    from pipeline.progress import ProgressHandler, RunProgress

    progress = RunProgress(store=None, pipeline_name="p", after_execution_id=0, out=io.StringIO(),
                           reused_nodes=frozenset({"Transform"}))
    handler = ProgressHandler(progress)
    for node in ("Transform", "Pusher"):
        handler.emit(logging.LogRecord("absl", logging.INFO, __file__, 1, f"Skipping component {node}.", None, None))
    assert [(r.node_id, r.state) for r in progress.results] == [("Transform", "reused"), ("Pusher", "not run")]
    assert progress.counts() == {"reused": 1, "not run": 1}
