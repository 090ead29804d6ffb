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

# Benchmarks: kernels vs the TA-Lib loop, frames, the daemon end to end, authoring previews,
# alerts, signal outcomes; last, every figure of the performance issue next to its target
# (prints tables, writes bench-results/).
bench:
    uv run python -m benchmarks.bench_kernels
    uv run python -m benchmarks.frames_bench
    uv run python -m benchmarks.signals_bench
    uv run python -m benchmarks.bench_daemon
    uv run python -m benchmarks.authoring_bench
    uv run python -m benchmarks.notify_bench
    uv run python -m benchmarks.outcomes_bench
    uv run python -m benchmarks.targets

# Chaos: the daemon against the simulated exchange, PostgREST and Gemini fakes under a seeded
# schedule of faults, kills and restarts, checked against `vyx backtest` (the long mode).
chaos *args:
    VYX_CHAOS=long uv run pytest -q -p no:cacheprovider tests/vyx/chaos {{args}}

# Soak: a week of 1m candles for 100 symbols through the daemon with 20 traders; RSS slope, leaks.
soak *args:
    uv run python -m benchmarks.soak {{args}}

# Load: 500 browser clients plus a stalled one, and 1,000 bad connection attempts.
load *args:
    uv run python -m benchmarks.load {{args}}

# The offline demo.
demo *args:
    uv run vyx demo {{args}}

# Build the production image (Docker): Dockerfile.prod, kernel cache included.
image tag="vyx:latest":
    docker build -f Dockerfile.prod -t {{tag}} .

# Push the image to Fly's registry as registry.fly.io/<app>:<label> (then `vyx provision USER_ID`).
deploy label="latest":
    fly deploy --build-only --push --image-label {{label}}

# Import SUPABASE_URL/SUPABASE_SERVICE_KEY/GEMINI_API_KEY/FLY_API_TOKEN from .env.local (names only shown).
secrets file=".env.local" *flags:
    #!/usr/bin/env bash
    set -euo pipefail
    keys='^(SUPABASE_URL|SUPABASE_SERVICE_KEY|GEMINI_API_KEY|FLY_API_TOKEN)='
    [ -f "{{file}}" ] || { echo "{{file}} not found" >&2; exit 1; }
    names=$(grep -E "$keys" "{{file}}" | cut -d= -f1 | tr '\n' ' ' || true)
    [ -n "$names" ] || { echo "{{file}} sets none of the secrets" >&2; exit 1; }
    echo "importing: $names"
    grep -E "$keys" "{{file}}" | fly secrets import {{flags}} >/dev/null
    echo "done"

# Run the production image locally with .env.local (http://localhost:8080); /data on a local
# Docker volume (vyx-local-data), as a Fly volume on a machine. Cloud mode needs USER_ID there.
test-local tag="vyx:latest" file=".env.local":
    #!/usr/bin/env bash
    set -euo pipefail
    [ -f "{{file}}" ] || { echo "{{file}} not found (see README: Deployment)" >&2; exit 1; }
    if grep -qE '^SUPABASE_URL=.' "{{file}}" && ! grep -qE '^USER_ID=.' "{{file}}"; then
        echo "{{file}} sets SUPABASE_URL but not USER_ID: add USER_ID=<the Supabase user's UUID>" \
            "(a cloud machine serves one user)" >&2
        exit 1
    fi
    exec docker run --rm -it --init --env-file "{{file}}" -p 8080:8080 \
        -v vyx-local-data:/data "{{tag}}"
