# The two set-up-free entry points (README): `make conformance` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: conformance test interop matrix clients bench lint type deps clean

$(STAMP): pyproject.toml requirements/constraints.txt setup.py rtmpconf/reference_server/_fanout_send.c
	bash scripts/install-system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)

## Main job: the conformance suite against the embedded reference server, then the report.
conformance: $(STAMP)
	bash scripts/install-system-deps.sh
	@$(BIN)/rtmpconf run $(ARGS); rc=$$?; $(BIN)/rtmpconf report || exit 1; exit $$rc

## The project's own tests (unit, integration with real ffmpeg/ffprobe/PyAV, plugin).
test: $(STAMP)
	bash scripts/install-system-deps.sh
	$(BIN)/python -bb -m pytest tests -q $(ARGS)

## Real programs (ffmpeg, ffprobe, PyAV, rtmpdump, VLC) against the reference server.
interop: $(STAMP)
	bash scripts/install-system-deps.sh
	$(BIN)/rtmpconf run --interop-only $(ARGS)

## The suite against reference, nginx-rtmp and node-media-server side by side (reports/matrix.html).
matrix: $(STAMP)
	bash scripts/install-system-deps.sh
	$(BIN)/rtmpconf matrix --targets reference,nginx-rtmp,node-media-server $(ARGS)

## Client conformance: real publishers/players and the simulated profiles (reports/clients/matrix.html).
clients: $(STAMP)
	bash scripts/install-system-deps.sh
	$(BIN)/rtmpconf clients --simulated --jobs 4 $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check rtmpconf bench

type: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .tox .tools reports/allure-results reports/html reports/summary.json reports/junit.xml reports/compliance.md
