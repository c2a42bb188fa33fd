# The two set-up commands are `make run` and `make test`; both install what is
# missing first (scripts/bootstrap.sh is idempotent).
PY := .venv/bin/python

.PHONY: run test unit e2e demo-call demo-phone demo-alarm bench bench-asr bench-acd bench-analyzer bootstrap

bootstrap:
	bash scripts/bootstrap.sh

run: bootstrap
	$(PY) -m ivr.server $(ARGS)

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

# Quick loop while developing: everything but the end-to-end and browser tests.
unit: bootstrap
	$(PY) -m pytest -m "not e2e and not browser" $(PYTEST_ARGS)

e2e: bootstrap
	$(PY) -m pytest -m "e2e or browser" $(PYTEST_ARGS)

# Against a running `make run`: a SIPp caller dials the Korean ARS line and keys PIN 100100#.
demo-call:
	$(PY) -m ivr.demo call $(ARGS)

# A SIPp phone that registers as agent extension EXT (default 1001) and answers calls.
demo-phone:
	$(PY) -m ivr.demo phone --ext $(or $(EXT),1001) $(ARGS)

# A signed major alarm to the webhook of a running `make run` (docs/alarms.md): banner,
# sound, voice alert to the free agents' phones and the hot line (dial 1690).
demo-alarm:
	$(PY) -m ivr.demo alarm $(ARGS)

# Benchmarks (each writes its section of docs/performance.md); run on a quiet machine.
bench: bootstrap
	$(PY) bench/screenpop.py $(ARGS)

bench-asr: bootstrap
	$(PY) bench/keyword_eval.py
	$(PY) bench/asr_pieces.py
	$(PY) bench/asr_streams.py

bench-acd: bootstrap
	$(PY) bench/acd_load.py $(ARGS)

# Every analyzer report on 1 million generated tickets, SQLite and a throwaway PostgreSQL.
bench-analyzer: bootstrap
	$(PY) bench/analyzer.py $(ARGS)
