# heatpump-monitor collector image.
#   docker build -t heatpump-monitor .
#   docker run -e H66_IP=192.168.1.100 -e INFLUXDB_TOKEN=... heatpump-monitor
# Entry points (seed-compatible): python3 /app/api_collector.py (default command).

# The dashboard's chart library: uPlot from the npm registry at the version
# frontend/package-lock.json pins, copied into the package's static files (never committed).
FROM node:20-slim AS frontend
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY frontend/build.mjs ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/app/data \
    ALERTS_DIR=/app/alerts \
    STORE_PATH=/app/data/heatpump.sqlite3 \
    HEARTBEAT_FILE=/tmp/heatpump-monitor.heartbeat \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=8051 \
    DASHBOARD_HOST=0.0.0.0 \
    DASHBOARD_PORT=8050

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY --from=frontend /build/src/heatpump_monitor/web/static/build ./src/heatpump_monitor/web/static/build
RUN pip install . && rm -rf /app/src /app/pyproject.toml /app/README.md

COPY collector/api_collector.py /app/api_collector.py
COPY collector/collector.py /app/collector.py

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin heatpump \
    && mkdir -p /app/data /app/alerts && chown heatpump /app/data /app/alerts
USER heatpump
# the spool (polls not yet stored) and the embedded store live here: keep it on a volume
# alert state and undelivered messages: one volume shared by the collectors and the dashboard
VOLUME ["/app/data", "/app/alerts"]
# 8050: dashboard (heatpump-monitor serve); 8051: collector /metrics, /healthz, /readyz
EXPOSE 8050 8051

# Healthy while the collector is ready: GET /readyz on METRICS_PORT (the store takes writes and
# a gateway answered within max(3 x interval, 90 s)). The dashboard service overrides it.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["heatpump-monitor", "healthcheck"]

CMD ["python3", "/app/api_collector.py"]
