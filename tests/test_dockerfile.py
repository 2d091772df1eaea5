"""Dockerfile and .dockerignore: what can be checked without a Docker engine.

The image must be the pinned TFX, hold the project at the path kubeflow_runner.py assumes,
install it so the dotted model paths resolve, and run with Keras 2.
"""
import ast
import os
import re

import pytest

from pipeline.config import REPO_ROOT
from pipeline.kubeflow import IMAGE_PROJECT_DIR


def read(name):
    with open(os.path.join(REPO_ROOT, name)) as f:
        return f.read()


def instructions():
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in read("Dockerfile").splitlines()
                                        if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip()]


def index_of(instruction, predicate=lambda args: True):
    return next(i for i, (name, args) in enumerate(instructions()) if name == instruction and predicate(args))


def pinned(package):
    return re.search(rf'"{re.escape(package)}==([^"]+)"', read("setup.py")).group(1)


def test_base_image_is_the_pinned_tfx():
    (name, args), *_ = instructions()
    assert name == "FROM"
    assert args == f"tensorflow/tfx:{pinned('tfx[kfp]')}"


def test_keras_2_is_selected_for_every_process_in_the_image():
    """The image installs the same environment file as `make setup`, and checks it took effect."""
    install = instructions()[index_of("RUN", lambda a: "python -c" in a)][1]
    assert re.search(r"cp scripts/environment\.pth .*purelib", install), "into site-packages"
    assert install.index("environment.pth") < install.index("python -c \"import"), "before the import check"
    assert "TF_USE_LEGACY_KERAS'] == '1'" in install
    assert 'TF_USE_LEGACY_KERAS", "1"' in read(os.path.join("scripts", "environment.pth"))
    assert "scripts/environment.pth" in read("Makefile")


def test_the_quiet_start_up_is_installed_beside_the_environment_file():
    """environment.pth imports tfx_template_quiet: both files go into site-packages, in the image and the venv."""
    assert "import tfx_template_quiet" in read(os.path.join("scripts", "environment.pth"))
    install = instructions()[index_of("RUN", lambda a: "python -c" in a)][1]
    assert re.search(r"cp scripts/environment\.pth scripts/tfx_template_quiet\.py .*purelib", install)
    assert "tfx_template_quiet" in re.search(r'python -c "import ([^"]+)"', install).group(1)
    assert "cp scripts/environment.pth scripts/tfx_template_quiet.py" in read("Makefile")


def test_project_is_copied_to_where_the_runner_expects_it():
    assert ("WORKDIR", IMAGE_PROJECT_DIR) in instructions()
    assert index_of("WORKDIR") < index_of("COPY", lambda a: a == ". .")


def test_locked_stack_and_the_project_are_installed_like_make_setup():
    uv_version = re.search(r"^UV_VERSION := (\S+)", read("Makefile"), re.M).group(1)
    copy_project = index_of("COPY", lambda a: a == ". .")
    install_lock = index_of("RUN", lambda a: "-r requirements.lock" in a)
    install_project = index_of("RUN", lambda a: "--no-deps -e ." in a)
    assert install_lock < copy_project < install_project, "lock layer cached apart from the code"
    assert f"uv=={uv_version}" in instructions()[install_lock][1]


def test_build_fails_unless_the_dotted_model_paths_resolve():
    tree = ast.parse(read(os.path.join("pipeline", "pipeline.py")))
    constants = {node.targets[0].id: node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                 and isinstance(node.value, ast.Constant)}
    modules = {constants[name].rsplit(".", 1)[0] for name in ("PREPROCESSING_FN", "RUN_FN")}
    check = instructions()[index_of("RUN", lambda a: "python -c" in a)][1]
    assert "cd / &&" in check, "imported away from the source tree, so the install is what resolves them"
    imported = set(re.search(r'python -c "import ([^"]+)"', check).group(1).replace(" ", "").split(","))
    assert modules <= imported


def test_base_entrypoint_is_kept_for_beam_workers():
    assert not [name for name, _ in instructions() if name in ("ENTRYPOINT", "CMD")]


def docker_pattern(pattern):
    """A .dockerignore pattern as a regex: '*' stays within one path segment, '**/' spans any."""
    regex = ""
    for token in re.split(r"(\*\*/|\*|\?)", pattern.strip("/")):
        regex += {"**/": "(.*/)?", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(regex)


def ignored(path, patterns):
    """Docker excludes a path when it or any folder above it matches a pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(docker_pattern(p).fullmatch(prefix) for p in patterns for prefix in prefixes)


@pytest.fixture(scope="module")
def ignore_patterns():
    return [line.strip() for line in read(".dockerignore").splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("path", [
    ".venv/bin/python", "outputs/metadata.sqlite", ".git/HEAD",
    "pipeline/__pycache__/config.cpython-310.pyc", "tfx_pipeline_template.egg-info/PKG-INFO"])
def test_dockerignore_keeps_local_state_out(ignore_patterns, path):
    assert ignored(path, ignore_patterns)


def test_dockerignore_keeps_everything_the_image_needs(ignore_patterns):
    needed = ["setup.py", "requirements.lock", "local_runner.py", "kubeflow_runner.py"]
    for package in ("pipeline", "models", "data", "serving", "monitoring"):
        for folder, _, files in os.walk(os.path.join(REPO_ROOT, package)):
            needed += [os.path.relpath(os.path.join(folder, f), REPO_ROOT) for f in files
                       if not f.endswith(".pyc")]
    assert "data/penguins/schema.pbtxt" in needed
    assert [p for p in needed if ignored(p, ignore_patterns)] == []
