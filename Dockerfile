# syntax=docker/dockerfile:1.7
# PML API image: `pml serve` against a configured PostgreSQL (PML_DATABASE_URL) and Redis (PML_REDIS_URL).
# Build: docker build -t pml .   Run: docker run -e PML_DATABASE_URL=... -e PML_ENVIRONMENT=production ... pml

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: wheels for PML and every dependency, so the runtime stage needs no compiler ----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY pml ./pml
COPY api ./api
COPY interactions ./interactions
COPY loaders ./loaders
COPY mobile ./mobile
RUN python -m pip wheel --wheel-dir /wheels --constraint constraints.txt .

# --- runtime: slim, non-root, read-only friendly ----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PML_ENVIRONMENT=production PML_DATA_DIR=/var/lib/pml
RUN groupadd --system --gid 10001 pml \
    && useradd --system --uid 10001 --gid pml --home-dir /var/lib/pml --shell /usr/sbin/nologin pml \
    && install -d -o pml -g pml /var/lib/pml
COPY --from=build /wheels /wheels
# Only the wheels built above, at the versions in constraints.txt: no index is consulted here.
RUN python -m pip install --no-index /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/pml
EXPOSE 8000
# Ready means the database answers; the orchestrator restarts or drains the container otherwise.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/health/ready', timeout=2).status == 200 else 1)"]
# Migrations run as a separate release step (`pml db upgrade`), not on every container start.
CMD ["pml", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-migrate"]
