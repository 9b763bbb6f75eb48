# syntax=docker/dockerfile:1.7
# One image for every Hangar Bay process; the command selects the service.

FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# dependencies first: this layer is cached until uv.lock or pyproject.toml change
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
COPY common ./common
COPY services ./services
COPY migrations ./migrations
COPY alembic.ini ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 hangar
WORKDIR /app
COPY --from=build --chown=hangar:hangar /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 HANGAR_LOG_JSON=true
USER hangar
ENTRYPOINT ["tini", "--", "hangar-bay"]
CMD ["--help"]
