"""Partial runs: `local_runner.py --from NODE`, `--to NODE`, `--only NODE` (TFX's partial run).

TFX runs the nodes downstream of every --from node and upstream of every --to node
(`partial_run_utils.mark_pipeline`); the nodes before them are skipped and their outputs
reused from one earlier run in ML Metadata (TFX's snapshot publishes them as cached
executions of the new run, so lineage, `inspect` and the report read a partial run as a
whole one). This module picks that earlier run itself: the newest one in which every node
to reuse finished, and says which. Resolvers that feed only the nodes to run (the
Evaluator's baseline) run again: the baseline is the model blessed now, not the one
blessed before the reused run. The nodes in the range always run (no cache): the cache
cannot see model code, which the pipeline names by dotted path.

Node ids are read from the pipeline `create_pipeline` builds for the configuration, so
nodes added there are selectable with no change here. Bad input is one line (exit 2)
before anything is written.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

from pipeline.config import PipelineConfig

TRIGGER = "partial"  # the run's trigger starts with it: "partial from Trainer"
SUCCEEDED = ("complete", "cached")
_RESOLVER_TYPE = "tfx.dsl.components.common.resolver.Resolver"


class PartialRunError(ValueError):
    """A partial run that cannot work; the message is one line saying what to do."""


@dataclass(frozen=True)
class PartialRun:
    """The range a user asked for: every node downstream of `from_nodes` and upstream of `to_nodes`."""

    from_nodes: Tuple[str, ...] = ()
    to_nodes: Tuple[str, ...] = ()

    def describe(self) -> str:
        """'from Trainer', 'to Transform', 'only Evaluator', 'from Transform to Trainer'."""
        if self.from_nodes and self.from_nodes == self.to_nodes:
            return "only " + ", ".join(self.from_nodes)
        parts = [f"from {', '.join(self.from_nodes)}"] if self.from_nodes else []
        return " ".join(parts + ([f"to {', '.join(self.to_nodes)}"] if self.to_nodes else []))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("partial runs (node ids as the run prints them; docs/develop.md)")
    group.add_argument("--from", dest="from_nodes", action="append", metavar="NODE",
                       help="run this node and everything after it, reusing the latest artifacts of the nodes "
                            "before it (repeatable), e.g. --from Trainer")
    group.add_argument("--to", dest="to_nodes", action="append", metavar="NODE",
                       help="run up to this node and no further (repeatable), e.g. --to Transform")
    group.add_argument("--only", dest="only_nodes", action="append", metavar="NODE",
                       help="run this node alone (as --from NODE --to NODE), e.g. --only Evaluator")


def from_args(args: argparse.Namespace) -> Optional[PartialRun]:
    only = tuple(getattr(args, "only_nodes", None) or ())
    from_nodes = tuple(getattr(args, "from_nodes", None) or ()) + only
    to_nodes = tuple(getattr(args, "to_nodes", None) or ()) + only
    return PartialRun(from_nodes, to_nodes) if from_nodes or to_nodes else None


class _Refused(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(2, f"error: {option_string} is for local_runner.py: {self.help}\n")


def refuse_arguments(parser: argparse.ArgumentParser, why: str) -> None:
    """--from/--to/--only on a command that cannot run part of the pipeline: one line, exit 2."""
    for flag in ("--from", "--to", "--only"):
        parser.add_argument(flag, dest=f"refused_{flag[2:]}", action=_Refused, help=why)


@dataclass
class Selection:
    """Which nodes a partial run runs and which it reuses, from the compiled pipeline."""

    partial: PartialRun
    order: List[str]  # every node id, in the order the pipeline runs them
    to_run: List[str]
    reuse: List[str]  # nodes before the range whose outputs the range needs
    refreshed: List[str] = field(default_factory=list)  # resolvers run again (see the module doc)

    @property
    def from_nodes(self) -> List[str]:
        return list(self.partial.from_nodes) + self.refreshed if self.partial.from_nodes or self.refreshed else []


@dataclass
class Plan:
    """A selection with the earlier run whose artifacts it reuses."""

    selection: Selection
    base_run: Optional[str] = None
    reused_artifacts: Dict[str, List[int]] = field(default_factory=dict)  # node -> artifact ids

    @property
    def trigger(self) -> str:
        return f"{TRIGGER} {self.selection.partial.describe()}"

    @property
    def detail(self) -> str:
        return f"reuses run {self.base_run}" if self.base_run else "reuses nothing"

    def run_options(self):
        """TFX's RunOptions for LocalDagRunner.run_with_ir, reusing `base_run` explicitly."""
        from tfx.orchestration.portable import partial_run_utils
        from tfx.proto.orchestration import pipeline_pb2

        options = pipeline_pb2.RunOptions()
        options.partial_run.from_nodes.extend(self.selection.from_nodes)
        options.partial_run.to_nodes.extend(self.selection.partial.to_nodes)
        settings = options.partial_run.snapshot_settings
        if self.base_run:
            partial_run_utils.set_base_pipeline_run_strategy(settings, self.base_run)
        else:
            partial_run_utils.set_latest_pipeline_run_strategy(settings)
        return options

    def lines(self) -> List[str]:
        selection = self.selection
        runs = ", ".join(selection.to_run)
        out = [f"Partial run ({selection.partial.describe()}): runs {runs}, without the cache"]
        if self.base_run:
            reused = ", ".join(f"{node} " + ",".join(f"#{i}" for i in self.reused_artifacts.get(node, []))
                               for node in selection.reuse)
            out.append(f"  reuses the artifacts of run {self.base_run}: {reused}")
        return out


def _graph(ir) -> Dict[str, Tuple[Set[str], Set[str], str]]:
    """node id -> (upstream ids, downstream ids, node type), in the pipeline's order."""
    from tfx.orchestration import node_proto_view

    return {n.node_info.id: (set(n.upstream_nodes), set(n.downstream_nodes), n.node_info.type.name)
            for n in node_proto_view.get_view_for_all_in(ir)}


def _reach(graph, start, direction: int) -> Set[str]:
    seen: Set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph[node][direction])
    return seen


def _nodes_to_run(graph, from_nodes: Sequence[str], to_nodes: Sequence[str]) -> Set[str]:
    """TFX's rule: downstream of the --from nodes and upstream of the --to nodes."""
    return _reach(graph, from_nodes or graph, 1) & _reach(graph, to_nodes or graph, 0)


def select_in(ir, partial: PartialRun) -> Selection:
    graph = _graph(ir)
    order = list(graph)
    unknown = [n for n in partial.from_nodes + partial.to_nodes if n not in graph]
    if unknown:
        raise PartialRunError(f"no node {', '.join(dict.fromkeys(unknown))} in this pipeline; "
                              f"its nodes, in order: {', '.join(order)}")
    for start in partial.from_nodes:
        if partial.to_nodes and not _nodes_to_run(graph, [start], partial.to_nodes):
            ends = ", ".join(partial.to_nodes)
            raise PartialRunError(f"--from {start} comes after --to {ends}: no node is both at or after {start} "
                                  f"and at or before {ends} (the order: {', '.join(order)})")
    to_run = _nodes_to_run(graph, partial.from_nodes, partial.to_nodes)
    refreshed = []
    for node, (_, downstream, kind) in graph.items():
        if kind == _RESOLVER_TYPE and node not in to_run and downstream & to_run and partial.from_nodes:
            # Only when running it again adds no other node to the range.
            if _nodes_to_run(graph, list(partial.from_nodes) + refreshed + [node], partial.to_nodes) \
                    == to_run | {node}:
                refreshed.append(node)
                to_run.add(node)
    reuse = _reach(graph, to_run, 0) - _reach(graph, to_run, 1)
    return Selection(partial, order, [n for n in order if n in to_run], [n for n in order if n in reuse], refreshed)


def select(config: PipelineConfig, partial: PartialRun) -> Selection:
    """The selection in the pipeline this config builds; PartialRunError for unknown or misordered nodes.
    Also refuses, before anything is written, a SQLite store that does not exist yet when nodes are reused."""
    from pipeline.pipeline import create_pipeline
    from pipeline.run_record import compile_run

    ir, _ = compile_run(create_pipeline(config, config.metadata.connection_config()))
    selection = select_in(ir, partial)
    if selection.reuse and not config.metadata.mysql_host and not os.path.isfile(config.metadata.sqlite_path):
        raise _no_earlier_run(config, selection)
    return selection


def _no_earlier_run(config: PipelineConfig, selection: Selection) -> PartialRunError:
    return PartialRunError(f"no earlier run of {config.pipeline_name} in {config.metadata.describe()} to reuse "
                           f"{', '.join(selection.reuse)} from: run the whole pipeline first (make run)")


def plan(config: PipelineConfig, selection: Selection, store) -> Plan:
    """The newest run in which every node to reuse finished; PartialRunError naming the node to run
    first when none did."""
    from runs import metadata

    if not selection.reuse:
        return Plan(selection)
    runs = metadata.pipeline_runs(store, config.pipeline_name)
    if not runs:
        raise _no_earlier_run(config, selection)
    newest_missing = None
    for run_id in runs:
        executions = {e.node_id: e for e in metadata.run_executions(store, run_id, config.pipeline_name)
                      if e.state in SUCCEEDED}
        missing = [n for n in selection.reuse if n not in executions]
        if not missing:
            return Plan(selection, run_id, {n: sorted(a.id for artifacts in metadata.output_artifacts(
                store, executions[n].execution_id).values() for a in artifacts) for n in selection.reuse})
        newest_missing = newest_missing or missing[0]
    first = [n for n in selection.to_run if n not in selection.refreshed][0]
    raise PartialRunError(f"{first} needs the outputs of {newest_missing}, which no earlier run produced: "
                          f"run local_runner.py --from {newest_missing} (or the whole pipeline) first")
