# Shortcuts; every target goes through manage.py, which builds .venv on first use.
.PHONY: run test lint bench migrate

run:
	python3 manage.py run

test:
	python3 manage.py test

migrate:
	python3 manage.py migrate

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy libs services gateway tests bench scripts

bench:
	for b in bench/*.py; do .venv/bin/python $$b; done
