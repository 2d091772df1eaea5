"""`python -m data.init` on a large CSV, timed as a user runs it, against issue 21's target.

    python -m benchmarks.data_init --rows 1000000

Generates rows shaped like the bundled penguins (data.generate), then runs
`python -m data.init FILE --label species` in a subprocess (whole-process wall time, imports
included) into a fresh folder, and prints the time against the target.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from runs import exit_codes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_SECONDS = 30.0  # issue 21: data.init on a 1M-row CSV within 30 s


def init_seconds(rows: int, workdir: str) -> float:
    from data import generate

    folder = os.path.join(workdir, "generated")
    generate.main(["--rows", str(rows), "--out", folder])
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "data.init", os.path.join(folder, "data.csv"), "--label", "species",
                    "--name", "timed", "--data-dir", os.path.join(workdir, "data")],
                   cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated rows (default 1000000)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        seconds = init_seconds(args.rows, workdir)
    verdict = "within" if seconds <= TARGET_SECONDS else "over"
    print(f"data.init, {args.rows} rows: {seconds:.1f} s ({verdict} the {TARGET_SECONDS:.0f} s target; "
          f"load average {os.getloadavg()[0]:.1f})")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
