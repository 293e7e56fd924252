# Every target does its own set-up on a fresh machine: a virtual environment,
# the dependencies (spaCy pipeline included) and the models the project builds.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/privacy-partition
export PRIVACY_PARTITION_MODELS := $(CURDIR)/local_model
PUPA   := ../shared/data/pupa
# llama.cpp for the comparison benchmarks, in an environment of its own (see bench-local-llamacpp).
BENCH_VENV := local_model/.bench-venv
LLAMA_CPP  := llama-cpp-python==0.3.36

.PHONY: demo test test-properties qemu fuzz lint typecheck models bench bench-int8 bench-aarch64 bench-detect bench-proxy bench-linear bench-transform bench-gateway bench-local bench-local-quality bench-local-llamacpp proto docs eval eval-detect eval-policy eval-leaks eval-zh eval-gateway clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,build]'
	touch $@

models: $(VENV)/.installed
	$(CLI) model build

# The boundary demo: a loopback gateway (SmolLM2 as the cloud model), one conversation
# taking each route (local, cloud, cloud with a sealed card, refused), what the cloud saw.
demo: models
	$(PY) examples/demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check sdk tests bench examples docs fuzz
	$(VENV)/bin/ruff format --check sdk tests bench examples docs fuzz

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# qemu-user runs the portability tests on an emulated AVX2 CPU (tests/test_portability.py);
# Debian's package, installed when missing and this is root on x86-64 (as in CI, where the
# tests then require it).
qemu:
	@if [ "$$(uname -m)" = x86_64 ] && ! command -v qemu-x86_64 >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null) || exit 1; \
	  else echo "note: qemu-x86_64 is missing (apt-get install qemu-user): portability tests skip"; fi; \
	fi

# One pytest worker per core (pytest-xdist): the tests share no state but the built models.
TEST_WORKERS ?= $(shell nproc)
# The model build runs beside lint and mypy, then pytest on every core.
test:
	$(MAKE) --no-print-directory -j$(TEST_WORKERS) --output-sync=target models lint typecheck qemu
	PRIVACY_PARTITION_REQUIRE_QEMU=$(CI) $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist worksteal

# The restore, streaming-restore and policy-loader properties at 10,000 examples each
# (make test runs them at 1,000); CI runs this after make test.
test-properties: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q -n $(TEST_WORKERS) tests/test_fuzz_properties.py

# Fuzzing, bounded in time: the atheris harnesses (FUZZ_SECONDS each, seeded with the
# shipped policies), then the hostile inputs and the properties at full size (10,000 examples).
FUZZ_SECONDS ?= 60
FUZZ_CORPUS  ?= $(or $(TMPDIR),/tmp)/privacy-partition-fuzz
fuzz: $(VENV)/.installed
	$(PY) -c 'import atheris' 2>/dev/null || $(PY) -m pip install --quiet atheris
	mkdir -p $(FUZZ_CORPUS)/restore $(FUZZ_CORPUS)/policy
	cp policies/*.yaml $(FUZZ_CORPUS)/policy/
	$(PY) fuzz/fuzz_restore.py -max_total_time=$(FUZZ_SECONDS) $(FUZZ_CORPUS)/restore
	$(PY) fuzz/fuzz_policy.py -max_total_time=$(FUZZ_SECONDS) $(FUZZ_CORPUS)/policy
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q -n $(TEST_WORKERS) tests/test_hostile_input.py tests/test_fuzz_properties.py

# Every benchmark in one run: one markdown report (.eval/bench-report.md, also printed), the
# machine described, each ratio against a baseline measured in the same run. About 15 minutes
# on two idle cores, plus the llama.cpp build the first time.
bench: models $(BENCH_VENV)/.installed
	$(PY) bench/report.py --data $(PUPA)/PUPA_New.csv --bench-python $(BENCH_VENV)/bin/python --require-all

# Detection latency against stock Presidio with the same spaCy pipeline (prints figures).
bench-detect: models
	$(PY) bench/detect_latency.py --data $(PUPA)/PUPA_New.csv

# The OpenAI-compatible proxy against calling the same upstream directly: p50 and p99 at 1 and
# 8 concurrent clients, with and without detection time.
bench-proxy: models
	$(PY) bench/proxy_overhead.py --data $(PUPA)/PUPA_New.csv

# Detection time against input length (µs per character at n and 4n, ours and stock Presidio),
# the other core idle, then loaded: the growth ratios show linear time and the default limit.
bench-linear: models
	$(PY) bench/detect_linear.py
	$(PY) bench/detect_linear.py --busy

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

# Int8 schemes of the detection models on this CPU (accuracy, speed against float32), and
# their accuracy on an emulated AVX2 CPU without AVX-512 or VNNI (qemu-user, see make qemu).
bench-int8: models qemu
	$(PY) bench/int8_candidates.py --emulate Haswell

# The same on emulated 64-bit Arm CPUs (qemu-aarch64 10 and an arm64 userland fetched into
# AARCH64_WORK; root for debootstrap; about 7 minutes the first time).
AARCH64_WORK ?= $(or $(TMPDIR),/tmp)/privacy-partition-aarch64
bench-aarch64: models
	bash bench/emulated_aarch64.sh $(AARCH64_WORK)

# Quantization candidates of the local model against float32: next-token agreement, speed, memory.
bench-local-quality: models
	$(PY) bench/local_quality.py

# Our int8 ONNX SmolLM2 against llama.cpp running the same wheel's Q4_1 GGUF, in one run.
# llama-cpp-python compiles llama.cpp from source (about 15 minutes on two cores) into a
# throwaway environment of its own, so it never touches .venv or make test.
$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BENCH_VENV)/bin/python -m pip install --quiet '$(LLAMA_CPP)'
	touch $@

bench-local-llamacpp: models $(BENCH_VENV)/.installed
	$(PY) bench/local_llamacpp.py --bench-python $(BENCH_VENV)/bin/python --threads 2

# Regenerate the gRPC code from proto/ (a test fails when it is stale).
proto: $(VENV)/.installed
	$(PY) proto/generate.py

# Regenerate docs/policy-reference.md and docs/cli.md (a test fails when they are stale).
docs: $(VENV)/.installed
	$(PY) docs/generate.py

# Leak, retention and cloud share of a policy (default: policies/default.yaml), on
# PUPA_New and PUPA_TNB (leak_eval.py gives every row its own id).
POLICY ?= policies/default.yaml
LEAK_EVAL := PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) ../shared/tools/leak_eval.py
eval-policy: models
	@for split in New TNB; do \
	  echo "== $(POLICY), PUPA_$$split"; $(LEAK_EVAL) $(PUPA)/PUPA_$$split.csv --policy $(POLICY); \
	done

# What leaks under a policy, by kind (the entity type that covers a value, else its shape)
# and by cause (missed by detection, kept by policy, span cut short, inside a longer word,
# kept by PUPA's reference redaction too): bench/leak_report.py, scored by leak_eval.py.
eval-leaks: models
	@for split in New TNB; do \
	  echo "== $(POLICY), PUPA_$$split"; \
	  $(PY) bench/leak_report.py $(PUPA)/PUPA_$$split.csv --policy $(POLICY) || exit 1; \
	done

# Chinese: person names without cues and structured identifiers, zh-CN.yaml, on a set made by
# bench/zh_set.py (hand-written templates, hand-made and Faker names, identifiers from their
# specifications): the tune split and a held-out split no rule was read against. Two-character
# values count (--min-chars 2): most Chinese names have two or three characters.
eval-zh: models
	$(PY) bench/zh_set.py .eval/zh-tune.jsonl --split tune
	$(PY) bench/zh_set.py .eval/zh-held-out.jsonl --split held-out
	@for split in tune held-out; do \
	  echo "== zh, $$split split"; \
	  $(LEAK_EVAL) .eval/zh-$$split.jsonl --policy policies/zh-CN.yaml --min-chars 2 | tail -7; \
	done

# Every shipped policy on both splits, what leaks under the default one by kind and
# cause, then the gateway audit: about 40 minutes on two cores.
eval: models
	@for policy in policies/*.yaml; do for split in New TNB; do \
	  printf '%-28s PUPA_%-4s ' $$policy $$split; \
	  $(LEAK_EVAL) $(PUPA)/PUPA_$$split.csv --policy $$policy | tail -1 || exit 1; \
	done; done
	$(MAKE) --no-print-directory eval-leaks
	$(MAKE) --no-print-directory eval-gateway

# What the real gateway received (reference server, echo upstream, a recorder among its
# interceptors), prompts sent one by one through PrivacyClient, scored by leak_eval.py. Fails
# when a prompt reached the server other than once per cloud route, or when any row's route
# or received text differs from offline sanitize on the same engines, keyset and Faker seed.
AUDIT_POLICY ?= policies/default.yaml
eval-gateway: models
	@mkdir -p .eval
	@for split in New TNB; do \
	  log=.eval/gateway-audit-$$split.log; \
	  echo "== $(AUDIT_POLICY), PUPA_$$split through the gateway"; \
	  $(LEAK_EVAL) $(PUPA)/PUPA_$$split.csv \
	    --cmd "sh -c '$(PY) bench/gateway_audit.py --policy $(AUDIT_POLICY) 2>$$log'" \
	    || { cat $$log; exit 1; }; \
	  cat $$log; \
	done

clean:
	rm -rf $(VENV) .eval local_model/*/model local_model/.downloads local_model/.bench-venv
