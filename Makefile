# The README's two commands: `make demo` (set up + run on a demo workbook) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest on every core (pytest-xdist); one worker per test file, so a file's shared fixture
# (a quarter of daily runs) is built once
PYTEST_PARALLEL := -n auto --dist loadfile

.PHONY: setup demo test test-fast lint clean

$(STAMP): pyproject.toml
	@echo "==> [1/3] creating $(VENV) with $$($(PY) --version)"
	$(PY) -m venv $(VENV)
	@echo "==> [2/3] updating pip"
	$(BIN)/pip install --upgrade --progress-bar on pip
	@echo "==> [3/3] installing ispsheets and its libraries (pandas, reportlab, ...)"
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "==> installed: $(BIN)/ispsheets"

setup: $(STAMP)

demo: $(STAMP)
	rm -rf demo
	@echo "==> playing the last 90 days of a 40-client ISP into demo/"
	$(BIN)/ispsheets demo demo --clients 40 --days 90

# Everything (CI runs this). The dots and percentages are the progress.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_PARALLEL)

# All but the tests marked slow (days of real runs, kill -9 at every step): under a minute.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

clean:
	rm -rf $(VENV) demo .pytest_cache
