"""One run per output folder and metadata store at a time.

Two runs writing one pipeline root and one ML Metadata store interleave their
artifacts and executions; the second run is refused instead, with a line naming
the first. The lock is a `flock` on a file (`<output>/run.lock`, and beside a SQLite
store kept elsewhere): the kernel releases it when its process dies, even by SIGKILL,
so a lock whose file still names a holder but can be taken is stale and is taken over.
A MySQL store is shared between machines, which a file lock cannot see: the lock on
the output folder then protects this machine only.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from runs.layout import OutputLayout
from runs.store import MetadataConfig

LOCK_SUFFIX = ".lock"


class RunLockError(RuntimeError):
    """Another live process holds the lock; the message names it."""


def lock_paths(layout: OutputLayout, metadata: MetadataConfig) -> Dict[str, str]:
    """Lock file -> what it guards: the output folder, and a SQLite store that lives outside it."""
    paths = {layout.run_lock: layout.output_dir}
    store = metadata.sqlite_path
    if store and os.path.dirname(os.path.abspath(store)) != layout.output_dir:
        paths[os.path.abspath(store) + LOCK_SUFFIX] = f"the metadata store {os.path.abspath(store)}"
    return paths


def describe(holder: Dict[str, object]) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("started", 0))))
    return f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('command')}), started {started}"


@dataclass
class RunLock:
    """Held from `acquire()` to `release()` (or the end of a `with` block, or the process)."""

    paths: Dict[str, str]  # lock file -> what it guards, for the message
    stale: List[Dict[str, object]] = field(default_factory=list)  # holders that died without releasing
    _files: list = field(default_factory=list)

    @classmethod
    def for_output(cls, layout: OutputLayout, metadata: MetadataConfig) -> "RunLock":
        return cls(lock_paths(layout, metadata))

    def acquire(self) -> "RunLock":
        """Takes every lock or none; raises RunLockError naming the live holder."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
              "command": " ".join([_program()] + sys.argv[1:])[:300]}
        try:
            for path, guarded in self.paths.items():
                os.makedirs(os.path.dirname(path), exist_ok=True)
                f = open(path, "a+")
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read(f)
                    f.close()
                    raise RunLockError(f"another run is using {guarded}: "
                                       f"{describe(holder) if holder else 'a process holding ' + path}; "
                                       "wait for it to finish or stop it") from None
                self._files.append(f)
                previous = _read(f)
                if previous and previous.get("pid") != me["pid"]:
                    self.stale.append(previous)
                f.seek(0)
                f.truncate()
                f.write(json.dumps(me))
                f.flush()
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Empties and unlocks the files (they stay: removing them would race with a waiting process)."""
        for f in self._files:
            f.seek(0)
            f.truncate()
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        self._files = []

    def stale_note(self) -> Optional[str]:
        """One line about locks taken over from dead processes, if any."""
        if not self.stale:
            return None
        return "note: took over the lock of " + "; ".join(describe(h) for h in self.stale) + ", no longer running"

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _program() -> str:
    """How this process was started, as typed: `python -m pipeline.continuous` or `local_runner.py`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return f"python -m {spec.name}" if spec is not None and spec.name else os.path.basename(sys.argv[0])


def _read(f) -> Optional[Dict[str, object]]:
    f.seek(0)
    text = f.read().strip()
    if not text:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {"pid": "?", "host": "?", "command": text[:100], "started": 0}
    return holder if isinstance(holder, dict) else None
