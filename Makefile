# Shortcuts for the commands README.md gives; each works without make too.
PY := .venv/bin/python

.PHONY: setup demo test check
setup:
	python3 -m venv .venv
	.venv/bin/pip install -r requirements.txt
	python3 -m venv .venv-pywb
	.venv-pywb/bin/pip install -r requirements-pywb.txt

demo:
	$(PY) -m replica.demo

test:
	$(PY) -m pytest

check:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
