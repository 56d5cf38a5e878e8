# praxis-caldav container image. Build: docker build -t praxis-caldav .
# Run with PostgreSQL and Caddy: compose.yaml. Configuration: /etc/praxis-caldav/wsgidav.yaml
# (deploy/container.yaml; mount your own over it), database from --database.
FROM python:3.11-slim

RUN useradd --system --create-home --home-dir /var/lib/praxis-caldav praxis-caldav
WORKDIR /opt/praxis-caldav
COPY pyproject.toml README.md ./
COPY davserver davserver
COPY providers providers
RUN pip install --no-cache-dir . && rm -rf /root/.cache
COPY deploy/container.yaml /etc/praxis-caldav/wsgidav.yaml

USER praxis-caldav
WORKDIR /var/lib/praxis-caldav
ENV PRAXIS_CALDAV_CONFIG=/etc/praxis-caldav/wsgidav.yaml \
    MALLOC_ARENA_MAX=2 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
# SQLite by default (a volume on /var/lib/praxis-caldav); compose.yaml passes PostgreSQL.
CMD ["praxis-caldav", "serve", "--database", "sqlite:////var/lib/praxis-caldav/praxis.db", "--create"]
