"""`python -m serving.feedback`: the former name of `python -m monitoring.live_quality`:
kept so scripts keep working.

It runs that command by name: serving never imports monitoring (tests/test_architecture.py).
"""
import runpy

if __name__ == "__main__":
    runpy.run_module("monitoring.live_quality", run_name="__main__", alter_sys=True)
