# The two commands of the README: `make serve` and `make test`. Both bootstrap .venv idempotently.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# One stamp per layer, so `make serve` on a fresh clone installs the runtime only and `make test`
# adds the test extra on top; each re-installs only when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test

.PHONY: setup setup-test serve test eval browser ocr clean

# torch is installed first, pinned: its CPU build lies on disk here, while an unpinned torch would
# pull a multi-GB CUDA build.
$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e .
	$(BIN)/verbatim models fetch
	touch $(RUNTIME_STAMP)

# pytest, playwright, gradio_client, Ray, Milvus (lite and a standalone server) for the test suite.
$(TEST_STAMP): $(RUNTIME_STAMP)
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

setup: $(RUNTIME_STAMP) ocr

setup-test: $(TEST_STAMP)

serve: setup
	$(BIN)/verbatim serve

# Chromium for the browser tests comes from Debian (never a browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

# OCR of scanned PDFs and images: Debian's tesseract with its English and Spanish models (ingest/ocr.py).
ocr:
	@command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx spa || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa >/dev/null \
	    || echo "tesseract could not be installed (apt-get failed): scanned PDFs and images will be skipped, saying so"; \
	  else echo "tesseract missing: run 'sudo apt-get install tesseract-ocr tesseract-ocr-spa' to read scanned PDFs and images (OCR)"; fi; }

# Two workers (one per core), one test module per worker at a time: module fixtures (a built index,
# a served app, a Milvus server) are built once, and the slowest modules overlap. Modules go out in
# collection order, longest first (tests/conftest.py), not xdist's default of most tests first.
test: setup-test browser ocr
	$(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=15

eval: setup
	$(BIN)/verbatim eval

clean:
	rm -rf $(VENV) var tests/artifacts
