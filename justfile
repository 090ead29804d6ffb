# Vyx tasks. CI (.ci/run) runs `just lint` and `just test`, exactly as below.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# The test suite: `uv run just test` is the README's test command and what CI runs.
test *args:
    uv run pytest -q {{args}}

# Lint and type-check: ruff (format + lint) and mypy strict.
lint:
    uv run ruff format --check .
    uv run ruff check .
    uv run mypy

# Format the code.
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# Benchmarks: kernels vs the TA-Lib loop, store throughput (prints tables, writes bench-results/).
bench:
    uv run python -m benchmarks.bench_kernels

# The offline demo.
demo *args:
    uv run vyx demo {{args}}
