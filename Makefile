# Two set-up commands (see README): `make demo` and `make test`. Both install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000

.PHONY: install browser demo test unit integration contract e2e lint bench bench-quick wheel clean

# pip's and setuptools' chatter goes to .venv/install.log, shown only when the install fails.
$(VENV)/.installed: pyproject.toml setup.py
	@echo "Installing Accounts Sync and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@{ $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -e '.[dev]'; } \
	  > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@

install: $(VENV)/.installed

# The browser tests drive Debian's Chromium (Playwright's own browser download can't work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	@PORT=$(PORT) $(PY) -m accounts_sync.demo serve

test: install browser lint
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .

unit: install
	$(PY) -m pytest -q tests/unit

integration: install
	$(PY) -m pytest -q tests/integration

contract: install
	$(PY) -m pytest -q tests/contract

e2e: install browser
	$(PY) -m pytest -q tests/e2e

bench: install
	$(PY) -m bench

bench-quick: install
	$(PY) -m bench --quick

# The installable plugin: dist/accounts_sync-<version>-py3-none-any.whl (see examples/minimal_host).
wheel: install
	rm -rf build dist
	$(PY) -m pip wheel --quiet --no-deps -w dist .

clean:
	rm -rf $(VENV) instance build dist .pytest_cache .ruff_cache
