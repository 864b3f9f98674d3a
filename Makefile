# The two commands a newcomer needs: `make demo` and `make test`. Both run the set-up first.
.PHONY: setup demo test lint bench
PY := .venv/bin/python

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m blender_s2l.demo --out out

test: setup
	$(PY) -m ruff check blender_s2l tests build.py scripts farm
	$(PY) -m mypy blender_s2l
	$(PY) -m pytest -q tests

bench: setup
	$(PY) scripts/benchmark.py
