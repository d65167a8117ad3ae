# heatpump-monitor collector image.
#   docker build -t heatpump-monitor .
#   docker run -e H66_IP=192.168.1.100 -e INFLUXDB_TOKEN=... heatpump-monitor
# Entry points (seed-compatible): python3 /app/api_collector.py (default command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STORE_PATH=/app/data/heatpump.sqlite3 \
    HEARTBEAT_FILE=/tmp/heatpump-monitor.heartbeat \
    DASHBOARD_HOST=0.0.0.0 \
    DASHBOARD_PORT=8050

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /app/src /app/pyproject.toml /app/README.md

COPY collector/api_collector.py /app/api_collector.py
COPY collector/collector.py /app/collector.py

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin heatpump \
    && mkdir -p /app/data && chown heatpump /app/data
USER heatpump
VOLUME ["/app/data"]
EXPOSE 8050

# Healthy while the collector completes ticks (its heartbeat file is fresh).
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["heatpump-monitor", "healthcheck"]

CMD ["python3", "/app/api_collector.py"]
