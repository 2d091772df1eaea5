"""Quiet start-up: a command prints the project's own lines, not its libraries' start-up noise.

scripts/environment.pth imports this in every process of the venv (`make setup`) and of the
image (Dockerfile), so every command, test and Beam worker is quiet without asking. Set
TFX_TEMPLATE_VERBOSE=1 to see everything. Two things are hidden, and nothing else:

- "Unable to register cuDNN/cuFFT/cuBLAS factory": XLA's CUDA plugins registering twice while
  `import tensorflow` loads its libraries, GPU or not. They are logged at ERROR level, so
  TF_CPP_MIN_LOG_LEVEL=3 would hide them only with every real C++ error; instead, what is
  written to stderr while `tensorflow` is imported is held and written out without them.
- google-api-core's FutureWarning that it no longer supports Python 3.10 (one per Google
  client library imported): TFX 1.16 allows no newer Python.

Real warnings and errors still show; only their order changes, while TensorFlow is imported.
"""
import os
import sys
import warnings

VERBOSE_VARIABLE = "TFX_TEMPLATE_VERBOSE"
FACTORY_LINE = rb"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for plugin"
PYTHON_VERSION_WARNING = "You are using a non-supported Python version"


def verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def without_factory_lines(text: bytes) -> bytes:
    import re

    pattern = re.compile(FACTORY_LINE)
    return b"".join(line for line in text.splitlines(keepends=True) if not pattern.search(line))


class _HeldStderr:
    """Holds what is written to file descriptor 2 (C++ and Python alike) and writes it out filtered."""

    def __enter__(self):
        import tempfile

        self.held = tempfile.TemporaryFile()
        sys.stderr.flush()
        self.saved = os.dup(2)
        os.dup2(self.held.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.held.seek(0)
        text = without_factory_lines(self.held.read())
        self.held.close()
        while text:
            text = text[os.write(2, text):]
        return False


class _QuietTensorFlowImport:
    """A meta path finder that runs the first `import tensorflow` with stderr held; then leaves."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        if verbose():  # a command's --verbose may set the variable before TensorFlow is imported
            return None
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None  # the import goes on as if this finder were not there
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, exec_module = spec.loader, spec.loader.exec_module

        def held_exec_module(module):
            del loader.exec_module
            with _HeldStderr():
                exec_module(module)

        loader.exec_module = held_exec_module
        return spec


def install() -> None:
    if verbose():
        return
    warnings.filterwarnings("ignore", message=PYTHON_VERSION_WARNING, category=FutureWarning,
                            module=r"google\.api_core")
    if "tensorflow" not in sys.modules:
        try:
            os.fstat(2)
        except OSError:  # no stderr to hold
            return
        sys.meta_path.insert(0, _QuietTensorFlowImport())


install()
