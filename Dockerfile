# The pipeline image: every Kubeflow / Vertex AI task runs in it, and it can also run the
# whole pipeline as one container job (python local_runner.py ...).
#
# The TFX base image brings TFX 1.16 on Python 3.10 and the Beam SDK worker boot as its
# entrypoint, so the same image can also be the worker image of Dataflow / portable Beam.
# Kubeflow tasks set their own command and do not use the entrypoint.
FROM tensorflow/tfx:1.16.0

ENV PYTHONUNBUFFERED=1

WORKDIR /pipeline

# The locked dependency set, exactly as `make setup` installs it (cached until the lock changes).
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir uv==0.13.8 \
 && uv pip install --system --no-cache -r requirements.lock

# The project, installed in place so the dotted paths (models.training.run_fn,
# models.preprocessing.preprocessing_fn) resolve from any working directory, with the
# environment every process needs (scripts/environment.pth, as `make setup` installs it:
# Keras 2 for tensorflow-transform 1.16 and TFMA 0.47, and the quiet start-up of
# scripts/tfx_template_quiet.py); the import check fails the build if either is missing.
COPY . .
RUN uv pip install --system --no-cache --no-deps -e . \
 && cp scripts/environment.pth scripts/tfx_template_quiet.py "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/" \
 && cd / && python -c "import models.training, models.preprocessing, pipeline.pipeline, kubeflow_runner, local_runner, tfx_template_quiet; import os; assert os.environ['TF_USE_LEGACY_KERAS'] == '1'"
