# Every target sets up .venv on first use (Python 3.10 + the locked dependency set, and
# scripts/environment.pth: Keras 2 and quiet start-up for every process of the venv).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
OUTPUT ?= outputs
DATASET ?= data/penguins
ARGS ?=

.PHONY: setup lock run tune test test-fast bench serve smoke monitor inspect report kubeflow clean continuous ct-demo \
	retrain evaluate transform develop

setup: $(STAMP)

$(STAMP): setup.py requirements.lock scripts/find_python.sh scripts/environment.pth scripts/tfx_template_quiet.py
	@set -e; \
	if [ ! -x $(PY) ]; then \
	  base=$$(scripts/find_python.sh); \
	  echo "Creating $(VENV) with $$base"; \
	  $$base -m venv $(VENV); \
	fi; \
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); \
	echo "Installing the locked dependency set (requirements.lock)..."; \
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock; \
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .; \
	cp scripts/environment.pth scripts/tfx_template_quiet.py "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"; \
	touch $(STAMP)

run: $(STAMP)  ## Run the pipeline on the bundled data
	$(PY) local_runner.py --output-dir $(OUTPUT) $(ARGS)

# ---- partial runs (pipeline/partial_run.py; docs/develop.md): the nodes before reuse the latest run's artifacts ----
retrain: $(STAMP)  ## Train, evaluate and push again on the latest run's data (after changing models/)
	$(PY) local_runner.py --output-dir $(OUTPUT) --from Trainer $(ARGS)

evaluate: $(STAMP)  ## Evaluate the latest model again (after changing the thresholds or slices); pushes nothing
	$(PY) local_runner.py --output-dir $(OUTPUT) --only Evaluator $(ARGS)

transform: $(STAMP)  ## Run up to Transform only (after changing models/preprocessing.py); trains nothing
	$(PY) local_runner.py --output-dir $(OUTPUT) --to Transform $(ARGS)

develop: $(STAMP)  ## Open notebooks/develop.ipynb: the pipeline's components one cell at a time
	$(VENV)/bin/jupyter lab notebooks/develop.ipynb
tune: $(STAMP)  ## Run the pipeline with TFX's Tuner searching the hyperparameters first (docs/tuning.md)
	$(PY) local_runner.py --dataset $(DATASET) --output-dir $(OUTPUT) --tune $(ARGS)

test: $(STAMP)  ## Everything, as CI runs it: unit tests and the e2e tests that run the real pipeline
	$(PY) -m pytest -m "" --durations=25 $(ARGS)

test-fast: $(STAMP)  ## The fast unit tests only (pytest's default: -m "not e2e" in pytest.ini)
	$(PY) -m pytest $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.pipeline_speed $(ARGS)

lock: $(STAMP)  ## Re-resolve requirements.lock after changing setup.py's dependencies
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_36 \
	  setup.py --extra dev -o requirements.lock

clean:
	rm -rf $(OUTPUT)

# ---- continuous training (pipeline/continuous.py) ----
continuous: $(STAMP)  ## The continuous-training loop on DATASET (spans), e.g. ARGS="--every 6h --monitor-every 1h"
	$(PY) -m pipeline.continuous --dataset $(DATASET) --output-dir $(OUTPUT) $(ARGS)

ct-demo: $(STAMP)  ## Three spans arrive, the model is served, traffic drifts, the loop retrains (a few minutes)
	$(PY) continuous_demo.py --workdir $(OUTPUT)/ct-demo $(ARGS)

# ---- serving (serving/) ----
MODEL ?= penguins
serve: $(STAMP)  ## Serve the pushed model with the TF Serving compatible server
	$(PY) -m serving.server --enable_batching --model_name=$(MODEL) --model_base_path=$$($(PY) -m runs.layout $(OUTPUT) model_base_path $(MODEL)) $(ARGS)

smoke: $(STAMP)  ## Check that the pushed model really serves (REST and gRPC)
	$(PY) -m serving.smoke --output-dir $(OUTPUT) $(ARGS)

monitor: $(STAMP)  ## Drift and anomaly report over the request log
	$(PY) -m monitoring.drift --output-dir $(OUTPUT) $(ARGS)

# ---- inspecting runs (runs/inspect.py) ----
inspect: $(STAMP)  ## e.g. make inspect ARGS=runs | artifacts | lineage | report
	$(PY) -m runs.inspect $(ARGS) --output-dir $(OUTPUT)

report: $(STAMP)  ## Static HTML report of the latest run
	$(PY) -m runs.inspect report --output-dir $(OUTPUT) $(ARGS)

# ---- cluster (kubeflow_runner.py) ----
kubeflow: $(STAMP)  ## Compile the pipeline for Kubeflow Pipelines v2 / Vertex AI
	$(PY) kubeflow_runner.py $(ARGS)

# ---- documentation (docs/, mkdocs.yml) ----
.PHONY: docs docs-serve
docs: $(STAMP)  ## Build the documentation site into site/ (strict: a broken link or page fails)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

docs-serve: $(STAMP)  ## Serve the documentation site with live reload on 127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --dev-addr 127.0.0.1:8000
