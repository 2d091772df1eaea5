"""`python -m tests.e2e.killed_push LOCAL_RUNNER_FLAGS...`: the runner, SIGKILLed inside the push.

The Pusher's copy into its staging folder gets as far as the model's variables, then the process
kills itself, exactly where TFX's own Pusher would leave a half-written version folder.
"""
import os
import signal
import sys

import local_runner
from pipeline import push


def _copy_part_then_die(copy_dir):
    def copy(src, dst):
        if not os.path.basename(dst).startswith(push.STAGING_PREFIX):
            return copy_dir(src, dst)
        copy_dir(os.path.join(src, "variables"), os.path.join(dst, "variables"))
        os.kill(os.getpid(), signal.SIGKILL)
    return copy


if __name__ == "__main__":
    push.io_utils.copy_dir = _copy_part_then_die(push.io_utils.copy_dir)
    sys.exit(local_runner.main(sys.argv[1:]))
