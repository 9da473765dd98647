# syntax=docker/dockerfile:1
# The Helpdesk API as one image. `docker compose up` runs it with PostgreSQL and Redis
# (docker-compose.yml); on its own (`docker run -p 8000:8000 IMAGE`) it starts on the embedded
# SQLite + memory broker under /data in development mode.

# The browser files of GraphiQL and the dashboard: npm ci from web/package-lock.json, then only
# the files web/vendor.json pins (checked against their sha384) go into the image.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json web/vendor.json web/copy-vendor.mjs ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && node copy-vendor.mjs /out

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged account with a fixed id (volumes and runAsNonRoot checks see 10001).
RUN groupadd --system --gid 10001 helpdesk \
 && useradd --system --uid 10001 --gid helpdesk --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin helpdesk

WORKDIR /app

# Runtime dependencies first, read from pyproject.toml alone: this layer is reused until they
# change. The dev extras (pytest, ruff, mypy, ...) are never installed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the project itself (the `helpdesk` command); the source stays root-owned and read-only.
COPY . .
RUN pip install --no-deps . \
 && pip check \
 && rm -rf build ./*.egg-info
COPY --from=web /out/node_modules web/node_modules

# Attachments (and the SQLite file of the standalone development mode) live in the volume.
RUN mkdir -p /data && chown helpdesk:helpdesk /data
ENV HELPDESK_HOST=0.0.0.0 \
    HELPDESK_PORT=8000 \
    HELPDESK_DATA_DIR=/data \
    HELPDESK_DATABASE_URL=sqlite:///data/helpdesk.sqlite3
VOLUME ["/data"]

USER 10001:10001
EXPOSE 8000

# python:3.11-slim has no curl: probe with the standard library (any non-2xx answer raises).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HELPDESK_PORT', '8000'), timeout=4)"]

# Applies pending migrations (idempotent), then serves; SIGTERM stops aiohttp gracefully.
CMD ["helpdesk", "serve", "--migrate"]
