# One-command set-up: `make test` and `make book` create (or reuse) .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch 2.13.0 is the CPU wheel on this kind of machine; anywhere else pip picks a build that fits.
TORCH ?= torch==2.13.0
PROFILE ?= smoke
OUT ?= _build/runs/$(PROFILE)

.PHONY: install test book reproduce clean lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)" || $(BIN)/python -m pip install -q "torch>=2.4,<=2.14.1"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra --durations=15 tests

reproduce: $(STAMP)
	$(BIN)/hmnet reproduce --profile $(PROFILE) --out $(OUT)

book: $(STAMP)
	$(BIN)/hmnet book --profile $(PROFILE) --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check hmnet tests benchmarks

clean:
	rm -rf _build
