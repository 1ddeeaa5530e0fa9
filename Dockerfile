# stablecheckout — a small, non-root image. Build: docker build -t stablecheckout .
# Targets: `runtime` (default; serve, watch, migrate, admin; no development tooling) and `demo`
# (adds the `devkit` package and Node for anvil).

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY watchers ./watchers
COPY migrations ./migrations
COPY frontend ./frontend
RUN uv sync --frozen --no-dev

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /app stablecheckout
WORKDIR /app
COPY --from=build --chown=stablecheckout /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 STABLECHECKOUT_LOG_FORMAT=json
USER stablecheckout
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status != 200)"
ENTRYPOINT ["stablecheckout"]
CMD ["serve", "-c", "/etc/stablecheckout/config.toml", "--listen", "0.0.0.0:8080", "--migrate"]

FROM runtime AS demo
USER root
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
COPY devkit ./devkit
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && chown -R stablecheckout /app
USER stablecheckout
CMD ["dev", "--host", "0.0.0.0", "--port", "8080"]
