# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint typecheck pytest bench docs clean messages

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# demo and serve install only their own extra, not the test tools.
$(VENV)/.demo: $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.web: $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[web]'
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/subkit demo

# The reference Settings > Subscription page on http://127.0.0.1:8000/ (Ctrl+C stops).
serve: $(VENV)/.web
	$(VENV)/bin/subkit serve

LINTED := src tests $(wildcard bench)

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(PY) -m mypy src

pytest: $(STAMP)
	$(PY) -m pytest -n 2 --cov --cov-report=term

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) -m bench

# The HTML site, from docs/ by mkdocs.yml, into site/.
docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	$(PY) -m mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.*

# Translations: extract N_(context, message) from the source, merge into each locale's .po,
# compile the .mo files that are committed next to them (tests check they are current).
LOCALES := src/subkit/locale
messages: $(STAMP)
	mkdir -p build
	$(VENV)/bin/pybabel extract --no-default-keywords -k 'N_:1c,2' --no-location \
		--project subkit -o build/subkit.pot src/subkit
	$(VENV)/bin/pybabel update -i build/subkit.pot -d $(LOCALES) -D subkit \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	$(VENV)/bin/pybabel compile -d $(LOCALES) -D subkit --statistics
