"""`python -m pipeline.inspect` is `python -m runs.inspect`: the command people already type."""
import sys

from runs.inspect import main

if __name__ == "__main__":
    sys.exit(main())
