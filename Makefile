# The two commands of README.md, and a few conveniences.
.PHONY: demo test bootstrap bench lint clean

demo: bootstrap
	.venv/bin/python scripts/demo.py

test: bootstrap
	sh scripts/check.sh

bench: bootstrap
	.venv/bin/python bench/run.py

bootstrap:
	sh scripts/bootstrap.sh

lint: bootstrap
	.venv/bin/python -m ruff format msync tests twisted scripts bench
	.venv/bin/python -m ruff check --fix msync tests twisted scripts bench

clean:
	rm -rf .venv demo _trial_temp build *.egg-info
