"""The import rules the README's layout section states, read from the source so they cannot rot.

- `serving` never imports the TFX pipeline code (`pipeline`, `models`, `tfx`): it runs where only a
  SavedModel and a metadata store exist. It reads runs through `runs`.
- `serving` never imports `monitoring`: the server never loads TFDV or scipy's statistics (checked
  in a fresh process too; TensorFlow itself imports scipy.sparse and scipy.linalg, not scipy.stats).
  The old commands `python -m serving.monitor` and `serving.feedback` run the monitoring ones by
  name (runpy), without importing them.
- `monitoring` (everything after the request log) imports no `pipeline`, `models` or `tfx`, and from
  `serving` exactly two modules: the model/server contract (`serving.contract`: where a version's
  schema is and which features it takes) and the request-log format (`serving.request_log_format`:
  the log's files and record fields). Not the server, not the encoder of tf.Examples.
- `runs` (reading what runs left behind) imports neither `pipeline`, `models`, `serving` nor `monitoring`.
- `models` (the ML a user edits) imports none of the project's other packages.
- `pipeline` never imports `serving` or `monitoring`: data flows one way. The continuous loop runs
  the monitors as commands and reads their result files (monitoring/result_file.py documents them).
- No import cycle between the project's modules, counting imports inside functions.
"""
import ast
import os
from typing import Dict, Set

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("pipeline", "runs", "models", "serving", "monitoring", "data", "benchmarks")
FORBIDDEN = {
    "serving": {"pipeline", "models", "tfx", "monitoring"},
    "monitoring": {"pipeline", "models", "tfx"},
    "runs": {"pipeline", "models", "serving", "monitoring", "tfx"},
    "models": {"pipeline", "runs", "serving", "monitoring", "data", "benchmarks"},
    "pipeline": {"serving", "monitoring"},
    "data": {"pipeline", "runs", "serving", "monitoring", "models"},
}
# What monitoring may take from serving: the contract and the request-log format, one module each
# (`serving` itself counts only as the package a `from serving import contract` names).
MONITORING_SEES_OF_SERVING = {"serving", "serving.contract", "serving.request_log_format"}


def _module_files() -> Dict[str, str]:
    """Module name -> path, for every project module (packages and the top-level runners)."""
    files = {}
    for name in os.listdir(REPO_ROOT):
        if name.endswith(".py") and name != "setup.py":
            files[name[:-3]] = os.path.join(REPO_ROOT, name)
    for package in PACKAGES:
        for root, _, names in os.walk(os.path.join(REPO_ROOT, package)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    module = os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".")
                    files[module[:-len(".__init__")] if module.endswith(".__init__") else module] = path
    return files


MODULES = _module_files()


def _imports(path: str) -> Set[str]:
    """Every module a file imports, at any depth (a `from a import b` counts a.b when b is a module)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in MODULES)
    return found


def test_the_project_has_the_packages_the_readme_describes():
    for package in ("pipeline", "runs", "models", "serving", "serving.server", "serving.deploy", "monitoring"):
        assert package in MODULES


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_rules(package):
    broken = []
    for module, path in MODULES.items():
        if module == package or module.startswith(package + "."):
            for imported in _imports(path):
                if imported.split(".")[0] in FORBIDDEN[package]:
                    broken.append(f"{module} imports {imported}")
    assert not broken


def test_monitoring_takes_only_the_contract_and_the_request_log_format_from_serving():
    broken = [f"{module} imports {imported}" for module, path in MODULES.items() if module.split(".")[0] == "monitoring"
              for imported in _imports(path)
              if imported.split(".")[0] == "serving" and imported not in MONITORING_SEES_OF_SERVING]
    assert not broken


def test_the_server_never_loads_tfdv_or_scipy_stats():
    """What `python -m serving.server` imports; the old monitor commands name monitoring, never import it."""
    import subprocess
    import sys

    code = ("import sys, serving.server, serving.server.model_server, serving.monitor, serving.feedback; "
            "print(sorted(m for m in ('tensorflow_data_validation', 'scipy.stats', 'monitoring') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_runners_are_thin():
    for runner in ("local_runner", "kubeflow_runner"):
        assert sum(1 for _ in open(MODULES[runner])) < 200, f"{runner}.py: move logic into pipeline/"


def test_no_import_cycles():
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # A package's __init__ re-exporting its own module is not a cycle in use.
    graph = {m: {i for i in deps if not m.startswith(i + ".")} for m, deps in graph.items()}
    state: Dict[str, int] = {}
    cycles = []

    def visit(module, path):
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles


def test_the_environment_is_stated_once():
    """scripts/environment.pth (installed by `make setup` and the Dockerfile) sets it; no module does."""
    offenders = [m for m, p in MODULES.items() if "TF_USE_LEGACY_KERAS" in open(p).read()]
    assert not offenders
    assert 'TF_USE_LEGACY_KERAS", "1"' in open(os.path.join(REPO_ROOT, "scripts", "environment.pth")).read()
    assert os.environ.get("TF_USE_LEGACY_KERAS") == "1", "the venv's environment.pth ran (make setup)"


def test_every_package_is_installed_so_it_imports_from_anywhere():
    """The editable install maps only the packages setup.py names (the image imports them from /)."""
    import importlib.util

    from setuptools import find_packages

    top_level = sorted({m.split(".")[0] for m in MODULES if "." in m})
    setup_py = open(os.path.join(REPO_ROOT, "setup.py")).read()
    include = ast.literal_eval(setup_py.split("find_packages(include=", 1)[1].split(")", 1)[0])
    installed = {p.split(".")[0] for p in find_packages(REPO_ROOT, include=include)}
    assert set(top_level) <= installed
    for package in top_level:
        assert importlib.util.find_spec(package).origin.startswith(REPO_ROOT)
