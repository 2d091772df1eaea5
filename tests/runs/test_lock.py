"""One run per output folder: a live holder is named and refused, a dead one's lock is taken over."""
import json
import os
import signal
import subprocess
import sys

import pytest

from runs.layout import OutputLayout
from runs.lock import RunLock, RunLockError, lock_paths
from runs.store import MetadataConfig
from tests.conftest import REPO_ROOT

HOLD = ("import sys, time\n"
        "from runs.layout import OutputLayout\n"
        "from runs.lock import RunLock\n"
        "from runs.store import MetadataConfig\n"
        "out = sys.argv[1]\n"
        "lock = RunLock.for_output(OutputLayout(out), MetadataConfig.for_output(out)).acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock on tmp_path/out."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out")], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _lock(output):
    return RunLock.for_output(OutputLayout(str(output)), MetadataConfig.for_output(str(output)))


def test_a_second_run_is_refused_with_the_holder_named(holder, tmp_path):
    with pytest.raises(RunLockError) as refused:
        _lock(tmp_path / "out").acquire()
    message = str(refused.value)
    assert message.startswith(f"another run is using {tmp_path / 'out'}: pid {holder.pid} on ")
    assert "-c" in message and message.endswith("wait for it to finish or stop it")


def test_a_lock_left_by_a_killed_process_is_taken_over(holder, tmp_path):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = _lock(tmp_path / "out").acquire()
    try:
        assert [h["pid"] for h in lock.stale] == [holder.pid]
        assert lock.stale_note().startswith(f"note: took over the lock of pid {holder.pid} on ")
        assert json.loads(open(tmp_path / "out" / "run.lock").read())["pid"] == os.getpid()
    finally:
        lock.release()


def test_release_frees_the_lock_for_the_next_run(tmp_path):
    with _lock(tmp_path / "out") as first:
        assert first.stale == []
    with _lock(tmp_path / "out") as second:
        assert second.stale == [], "a cleanly released lock is not stale"
    assert open(tmp_path / "out" / "run.lock").read() == ""


def test_a_sqlite_store_kept_elsewhere_is_locked_too(tmp_path):
    layout = OutputLayout(str(tmp_path / "out"))
    elsewhere = MetadataConfig(sqlite_path=str(tmp_path / "shared" / "team.sqlite"))
    assert lock_paths(layout, elsewhere) == {
        layout.run_lock: layout.output_dir,
        str(tmp_path / "shared" / "team.sqlite.lock"): f"the metadata store {tmp_path / 'shared' / 'team.sqlite'}"}
    assert list(lock_paths(layout, MetadataConfig.for_output(layout.output_dir))) == [layout.run_lock]


def test_two_output_folders_sharing_one_store_exclude_each_other(tmp_path):
    store = MetadataConfig(sqlite_path=str(tmp_path / "shared.sqlite"))
    with RunLock.for_output(OutputLayout(str(tmp_path / "a")), store):
        code = ("import sys\nfrom runs.layout import OutputLayout\nfrom runs.lock import RunLock, RunLockError\n"
                "from runs.store import MetadataConfig\n"
                f"lock = RunLock.for_output(OutputLayout({str(tmp_path / 'b')!r}), "
                f"MetadataConfig(sqlite_path={str(tmp_path / 'shared.sqlite')!r}))\n"
                "try:\n    lock.acquire()\nexcept RunLockError as e:\n    print(e)\n    sys.exit(2)\n")
        other = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert other.returncode == 2
    assert other.stdout.startswith(f"another run is using the metadata store {tmp_path / 'shared.sqlite'}: "
                                   f"pid {os.getpid()} ")
    assert not open(tmp_path / "b" / "run.lock").read(), "the folder lock it took was given back"
