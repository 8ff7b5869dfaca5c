# Two commands on a fresh Debian/Ubuntu machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORE_VENV ?= .venv-core
CORE_STAMP := $(CORE_VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
APT_PACKAGES := orthanc orthanc-dicomweb orthanc-gdcm orthanc-wsi orthanc-postgresql dcmtk postgresql nodejs dicom3tools \
  fonts-noto-cjk orthanc-webviewer chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=

.PHONY: help system-deps install test test-core typecheck mutation demo stop lab lint clean refresh-notebook-references

help:
	@echo "make demo   install, start a local Orthanc, load the demo hospital, run every notebook into $(DEMO_DIR)"
	@echo "make test   the whole test suite (starts its own Orthanc)"
	@echo "make lab    JupyterLab with the 'workbench' kernel"
	@echo "make lint   ruff"

# Debian packages: the Orthanc server and plugins (orthanc-wsi: whole-slide tiles and viewer, OrthancWSIDicomizer),
# dcmtk (a real DICOM peer for tests), PostgreSQL.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The virtual environment. CPU torch goes in first: monai would otherwise pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[all,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name workbench --display-name "Python (workbench)" >/dev/null
	@# an editable install skips data files: the config that enables the viewer's proxy is put in place here
	install -D -m 0644 jupyter-config/workbench.json $(VENV)/etc/jupyter/jupyter_server_config.d/workbench.json
	$(BIN)/jupyter server extension list 2>&1 | grep -q 'workbench.jupyter.proxy.*OK'
	touch $(STAMP)

install: system-deps $(STAMP)

# The whole suite on Orthanc's default SQLite index (with --nbval-lax: every notebook cell is a test item, run at
# the tiny parameters of tests/notebooks/parameters.py; see tests/notebooks/nbval_plugin.py), then the imaging
# integration tests again on a PostgreSQL index (a throwaway cluster the tests start), as in the seed's RDS deployment.
test: install test-core
	$(BIN)/ruff check workbench tests bench deploy
	$(BIN)/mypy workbench
	$(BIN)/python -m pytest --nbval-lax $(PYTEST_ARGS)
	WORKBENCH_TEST_ORTHANC_INDEX=postgresql $(BIN)/python -m pytest tests/imaging -m "not notebook" $(PYTEST_ARGS)

# A core-only install (`pip install workbench`: the imaging wing, no torch, boto3, MeCab ...) and the imaging unit
# tests in it: the wings stay installable on their own. pip's cache is reused, so only the first build downloads.
$(CORE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/pip install -q --upgrade pip
	$(CORE_VENV)/bin/pip install -q -e . pytest pytest-timeout
	touch $(CORE_STAMP)

test-core: $(CORE_STAMP)
	$(CORE_VENV)/bin/python -m pytest -p no:cacheprovider -m "not orthanc and not notebook and not pathology" \
	  tests/imaging tests/test_imports.py tests/test_optional.py tests/test_config.py $(PYTEST_ARGS)

# Rewrite the expected outputs of the notebooks' checked cells (# NBVAL_CHECK_OUTPUT) in tests/notebooks/reference/
# from a run at the tiny test parameters against a fresh test Orthanc; review the diff before committing it.
refresh-notebook-references: install
	$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --refresh-notebook-references notebooks $(PYTEST_ARGS)

# Mutation testing of the core modules with their own unit tests (mutmut, no server, 6-12 min on 2 cores; not part of
# `make test`). Scope: mutation/scope.toml; equivalent mutants with their reasons: mutation/equivalents.toml.
mutation: install
	rm -rf mutants
	$(BIN)/python mutation/score.py

typecheck: install
	$(BIN)/mypy workbench

lint: install
	$(BIN)/ruff check workbench tests bench deploy

demo: install
	$(BIN)/workbench orthanc start
	$(BIN)/workbench demo-data load
	@mkdir -p $(DEMO_DIR)
	@for nb in notebooks/*.ipynb; do \
	  echo "executing $$nb"; \
	  $(BIN)/papermill --kernel workbench --cwd notebooks --no-progress-bar "$$nb" "$(DEMO_DIR)/$$(basename $$nb)" \
	    || exit 1; \
	done
	@echo
	@echo "Executed notebooks are in $$(cd $(DEMO_DIR) && pwd)"
	@echo "Open them with: make lab   (the local Orthanc keeps running; 'make stop' or '$(BIN)/workbench orthanc stop' ends it)"

stop:
	$(BIN)/workbench orthanc stop

# As root (containers, some cloud notebooks) Jupyter needs --allow-root. Jupyter prints the URL with its token
# ("http://127.0.0.1:8888/lab?token=..."). The archive's viewer is served through it (workbench.jupyter.proxy).
LAB_ARGS ?= --no-browser --ServerApp.ip=127.0.0.1
lab: install
	install -D -m 0644 jupyter-config/workbench.json $(VENV)/etc/jupyter/jupyter_server_config.d/workbench.json
	@echo "workbench: starting JupyterLab; open the http://127.0.0.1:...?token=... URL it prints below"
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_ARGS) $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) $(CORE_VENV) runs .pytest_cache .ruff_cache .mypy_cache
