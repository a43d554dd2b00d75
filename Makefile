# tinkex — every target bootstraps .venv itself, so `make test` is the only
# command a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv regen check test conformance ray lint demo bench clean corpus reliability

venv: $(STAMP)

# Reinstall only when the project's dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,emulator]'
	@touch $(STAMP)

regen: $(STAMP)
	$(PY) -m tinkex.codegen regen

check: $(STAMP)
	$(PY) -m tinkex.codegen check

test: $(STAMP)
	$(PY) -m tinkex.codegen check
	$(PY) -m pytest -q

# The official SDK against the emulator: every release of the matrix, the 0.38 flows,
# the codec interop and schemathesis (slow: one cached venv per release).
conformance: $(STAMP)
	$(PY) -m pytest -q -m "conformance or release_matrix" tests/conformance

# every pinned public OpenAPI document, the large ones included (build times are printed)
corpus: $(STAMP)
	TINKEX_CORPUS=1 $(PY) -m pytest -q tests/corpus

# The whole reliability suite: fault soaks with >= 200 faults of each kind, poll counts
# over 5 s windows (make test runs its fast part).
reliability: $(STAMP)
	$(PY) -m pytest -q -s -m "reliability or not reliability" tests/reliability

# Scale-out on a local Ray cluster: slow to start, so not part of `make test`.
ray: $(STAMP) $(VENV)/.ray-installed
	$(PY) -m pytest -q -m ray tests/scaleout

$(VENV)/.ray-installed: pyproject.toml
	$(PY) -m pip install --quiet -e '.[ray]'
	@touch $@

lint: $(STAMP)
	$(PY) -m ruff check codegen tinkex tests
	$(PY) -m mypy codegen tinkex

demo: $(STAMP)
	$(PY) examples/demo.py --out demo-output

# tinkex beside raw requests and the official SDK (0.24.1, 0.38.0): one table of ratios.
# The other bench/*.py scripts measure one thing each and run on their own.
bench: $(STAMP)
	$(PY) bench/bench_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
