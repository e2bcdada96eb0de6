# quant-backend tasks. Run them as `uv run just <recipe>` (uv provides `just` itself).

set dotenv-load := false

# List the recipes
default:
    @just --list

# Run the gateway (embedded default: SQLite under var/, inline functions, simulated venue)
serve *ARGS:
    uv run quant serve {{ARGS}}

# Run a Dramatiq worker for every function (needs QUANT_REDIS_URL); polls Redis every 100 ms when idle
worker *ARGS:
    dramatiq_worker_timeout=${dramatiq_worker_timeout:-100} uv run dramatiq functions.runtime.worker --processes 1 --threads 4 {{ARGS}}

# Migrate the database in QUANT_DATABASE_URL to the newest schema (or to REVISION)
migrate REVISION="head":
    uv run quant db upgrade {{REVISION}}

# Run the whole test suite (services are used when reachable; QUANT_REQUIRE_SERVICES=1 demands them)
test *ARGS:
    uv run pytest {{ARGS}}

# ruff lint + format check
lint:
    uv run ruff check .
    uv run ruff format --check .
    uv run lint-imports

# mypy --strict on the application packages
typecheck:
    uv run mypy

# Benchmarks: a table of figures and ratios against the named peers
bench *ARGS:
    uv run --group bench python -m tests.bench {{ARGS}}

# Everything CI runs
check: lint typecheck test

# Apply ruff's fixes and formatting
fmt:
    uv run ruff check --fix .
    uv run ruff format .
