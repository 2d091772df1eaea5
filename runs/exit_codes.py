"""Exit codes shared by every command, so scripts can tell outcomes apart.

Runs of the pipeline use all of them; other commands use OK, FAILED (or FOUND for
the drift monitor) and BAD_INPUT. argparse's own usage errors are 2 as well.
"""
OK = 0
FAILED = 1          # a component failed; a command could not finish
FOUND = 1           # the drift monitor found drift, skew or anomalies
BAD_INPUT = 2       # bad configuration, flags or input: the message says what to fix
ANOMALIES = 3       # data anomalies stopped the run before training
NOT_BLESSED = 4     # the model missed a threshold and was not pushed
SMOKE_FAILED = 5    # the pushed model does not serve correctly
INTERRUPTED = 130   # stopped by SIGINT or SIGTERM (128 + SIGINT, the shell's convention)
