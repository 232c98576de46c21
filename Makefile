# One-command set-up: `make test` and `make book` create (or reuse) .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch 2.13.0 is the CPU wheel on this kind of machine; anywhere else pip picks a build that fits.
TORCH ?= torch==2.13.0
# `make book` renders the committed results store of the reference build (reference/local: MiniLM-L6 on the
# real GLUE/SuperGLUE files) without data or training; PROFILE=smoke runs the synthetic pipeline end to end.
PROFILE ?= local
ifeq ($(PROFILE),local)
OUT ?= reference/local
else
OUT ?= _build/runs/$(PROFILE)
endif

.PHONY: install test book reproduce clean lint campaign
DATA ?= $(HMNET_DATA_DIR)
BUDGET ?= 120m

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)" || $(BIN)/python -m pip install -q "torch>=2.4,<=2.14.1"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -ra --durations=15 tests

# With DATA (or $$HMNET_DATA_DIR) set, the local profile re-renders the store's notebooks from the files (no
# training); without it, `make book` builds from the notebooks already in the store.
reproduce: $(STAMP)
	$(BIN)/hmnet reproduce --profile $(PROFILE) --out $(OUT) $(if $(DATA),--data-dir "$(DATA)")

book: $(STAMP)
	$(BIN)/hmnet book --profile $(PROFILE) --out $(OUT) $(if $(DATA),--data-dir "$(DATA)")

lint: $(STAMP)
	$(BIN)/ruff check hmnet tests benchmarks

# The reference campaign: every pending run of reference/local, within a time budget (needs the data files).
campaign: $(STAMP)
	$(BIN)/hmnet campaign run --profile local --data-dir "$(DATA)" --budget "$(BUDGET)" --workers 2 --threads 1

clean:
	rm -rf _build
