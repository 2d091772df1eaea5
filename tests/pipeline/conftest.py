"""Fixtures of the pipeline tests."""
import os
import shutil

import pytest

from tests.conftest import PENGUINS


@pytest.fixture
def spanned(tmp_path):
    """A dataset of three spans: the bundled penguins dealt into span-1/ .. span-3/."""
    folder = tmp_path / "spans"
    folder.mkdir()
    for name in ("dataset.yaml", "schema.pbtxt"):
        shutil.copy(os.path.join(PENGUINS, name), folder)
    lines = open(os.path.join(PENGUINS, "penguins.csv")).read().splitlines()
    for span in (1, 2, 3):
        (folder / f"span-{span}").mkdir()
        (folder / f"span-{span}" / "part.csv").write_text("\n".join([lines[0]] + lines[span::3]) + "\n")
    return folder
