# Quick start: `make demo` (install + run the quick demo + report), `make test` (install + tests).
# `make demo-full` runs the full demo grid (config/demo-full.yaml); `make results` writes
# docs/RESULTS.md from the runs' outputs.
VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
BIN := $(VENV)/bin

.PHONY: demo demo-full test lint results check-results clean

$(BIN)/medimprint-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

define REPORT_HINT
@echo ""
@echo "Done. Metrics table: results/metrics.tsv"
@echo "Report: results/report.html (a self-contained page: open it in a browser, e.g."
@echo "  xdg-open results/report.html   or   python3 -m webbrowser results/report.html)"
endef

demo: $(BIN)/medimprint-installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	$(REPORT_HINT)

demo-full: $(BIN)/medimprint-installed
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo-full.yaml
	$(BIN)/snakemake --report results/report.html --configfile config/demo-full.yaml
	$(REPORT_HINT)

test: $(BIN)/medimprint-installed
	$(BIN)/python -m pytest

# docs/RESULTS.md from the outputs of every config that was run; check-results reruns the quick
# demo and fails when its documented figures are not what the workflow writes (CI runs it).
results: $(BIN)/medimprint-installed
	$(BIN)/python benchmarks/results_page.py --available config/*.yaml

check-results: demo
	$(BIN)/python benchmarks/results_page.py --check config/config.yaml

lint: $(BIN)/medimprint-installed
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
