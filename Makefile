# Every target does its own set-up on a fresh machine: a virtual environment,
# the dependencies (spaCy pipeline included) and the models the project builds.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/privacy-partition
export PRIVACY_PARTITION_MODELS := $(CURDIR)/local_model
PUPA   := ../shared/data/pupa

.PHONY: demo test lint typecheck models bench-detect bench-transform bench-gateway bench-local bench-local-quality proto eval-detect eval-policy clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,build]'
	touch $@

models: $(VENV)/.installed
	$(CLI) model build

demo: models
	$(PY) examples/detection_demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check sdk tests bench examples
	$(VENV)/bin/ruff format --check sdk tests bench examples

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

test: models lint typecheck
	$(VENV)/bin/pytest -q

# Detection latency against stock Presidio with the same spaCy pipeline (prints figures).
bench-detect: models
	$(PY) bench/detect_latency.py --data $(PUPA)/PUPA_New.csv

# Leak and retention when every finding is redacted (the recall proxy).
eval-detect: models
	$(PY) bench/detect_leak.py --data $(PUPA)

# sanitize + restore cost of a prompt with 50 findings, detection excluded.
bench-transform: $(VENV)/.installed
	$(PY) bench/transform_cost.py

# Loopback load on the reference gateway (echo upstream), bounded in count and time.
bench-gateway: $(VENV)/.installed
	$(PY) bench/gateway_load.py --clients 16 --requests 5000 --seconds 20

# The local model: decode tokens/s, time to first token, peak memory, size.
bench-local: models
	$(PY) bench/local_model.py

# Quantization candidates of the local model against float32: next-token agreement, speed, memory.
bench-local-quality: models
	$(PY) bench/local_quality.py

# Regenerate the gRPC code from proto/ (a test fails when it is stale).
proto: $(VENV)/.installed
	$(PY) proto/generate.py

# Leak, retention and cloud share of a policy (default: policies/default.yaml).
POLICY ?= policies/default.yaml
eval-policy: models
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) ../shared/tools/leak_eval.py $(PUPA)/PUPA_New.csv --policy $(POLICY)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) ../shared/tools/leak_eval.py $(PUPA)/PUPA_TNB.csv --policy $(POLICY)

clean:
	rm -rf $(VENV) local_model/*/model local_model/.downloads
