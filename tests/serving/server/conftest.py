"""Fixtures shared by the server tests."""
import shutil

import pytest

from serving.server.versions import list_versions


@pytest.fixture
def pushed_version(pipeline_run, tmp_path):
    """A private copy of the pushed model (one version) under tmp_path/penguins, and that version's number."""
    path = tmp_path / "penguins"
    shutil.copytree(pipeline_run.serving_dir, path)
    [version] = list_versions(str(path))
    return path, version
