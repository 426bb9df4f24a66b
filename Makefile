# The two commands of README.md, and a few conveniences.
.PHONY: demo test unit bootstrap bench lint clean

demo: bootstrap
	.venv/bin/python scripts/demo.py

# The whole suite: ruff, mypy, every trial test (unit and integration, with a
# private Dovecot, mbsync and child processes) under coverage.py; prints the
# coverage total (95% of msync/ at this writing), then "N passed, M failed".
# About 1,400 tests; measured 8 min 40 s on the 2-core machine while it was
# shared with other jobs.
test: bootstrap
	sh scripts/check.sh

# The unit tests alone (everything but tests/integration/): fakes and fake
# clocks only, no process, socket, reactor or real wait. About 1,150 tests
# in 20-40 s (15 s of CPU) on the 2-core development machine.
unit: bootstrap
	sh scripts/unit.sh

bench: bootstrap
	.venv/bin/python bench/run.py

bootstrap:
	sh scripts/bootstrap.sh

lint: bootstrap
	.venv/bin/python -m ruff format msync tests twisted scripts bench
	.venv/bin/python -m ruff check --fix msync tests twisted scripts bench

clean:
	rm -rf .venv demo _trial_temp build *.egg-info .coverage
