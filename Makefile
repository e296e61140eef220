# Two commands: `make run` and `make test`. Both create .venv on first use and
# reinstall only when pyproject.toml changes (the stamp file records that).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mmhost run --config config.toml $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check host plugins strategies tests bench
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check host plugins strategies tests bench

# Benchmarks print one JSON object each; the backtest one needs the bench extra.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	for name in book parse journal; do $(BIN)/mmhost bench $$name --json; done

docs: $(STAMP)
	$(BIN)/mmhost docs --write

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
