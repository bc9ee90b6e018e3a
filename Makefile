# Callroster: `make run` starts the service on the embedded defaults; `make test` runs the
# whole suite. Both set up what they need (virtual environment, Debian packages) and are
# idempotent.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the service itself needs from Debian: Python's venv, and espeak-ng to speak the name
# of whoever invites a callee (without it, a recorded prompt is played instead).
RUN_PACKAGES := python3-venv espeak-ng
# What the tests need: a PostgreSQL server for the store tests, real SIP peers, a browser,
# nftables for the NAT of the network namespace a phone-behind-NAT test builds,
# Prometheus to scrape a running service as an operator's monitoring would, systemd for
# `systemd-analyze verify` of deploy/callroster.service.
TEST_PACKAGES := $(RUN_PACKAGES) postgresql sip-tester baresip chromium redis-server nftables \
	kamailio espeak-ng sox linphone-cli prometheus systemd

.PHONY: run test lint typecheck unit bench lock clean system-run system-test

run: system-run $(STAMP)
	$(BIN)/callroster serve --demo

test: system-test $(STAMP) lint typecheck unit

system-run:
	@scripts/ensure-debian-packages $(RUN_PACKAGES)

system-test:
	@scripts/ensure-debian-packages $(TEST_PACKAGES)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Two pytest sessions at once: the real-peer tests one after another, the rest beside them.
unit: $(STAMP)
	scripts/run-tests

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-pin every dependency after changing pyproject.toml (run in a fresh venv).
lock:
	rm -rf /tmp/callroster-lock && $(PYTHON) -m venv /tmp/callroster-lock
	/tmp/callroster-lock/bin/pip install --quiet --disable-pip-version-check '.[test]'
	/tmp/callroster-lock/bin/pip freeze --exclude-editable | grep -v '^callroster' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
