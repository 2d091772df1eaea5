"""`python -m serving.monitor`: the former name of `python -m monitoring.drift`:
kept so scripts keep working.

It runs that command by name: serving never imports monitoring (tests/test_architecture.py).
"""
import runpy

if __name__ == "__main__":
    runpy.run_module("monitoring.drift", run_name="__main__", alter_sys=True)
