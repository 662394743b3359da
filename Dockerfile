# syntax=docker/dockerfile:1
#
# difychat in a container: `docker build -t difychat .` then
#   docker run -p 127.0.0.1:5001:5001 -v difychat-data:/data difychat
# The first start prints the demo app's key (`docker logs`). With PostgreSQL and Redis: compose.yaml.
# More: docs/deployment.md.

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
# The extras to install: add mcp (agents' MCP tools) or local-embeddings, e.g.
#   docker build --build-arg EXTRAS=server,mcp -t difychat .
ARG EXTRAS=server
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/difychat
WORKDIR /src
# What building the package needs (pyproject.toml names README.md as its readme), nothing else.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/difychat/bin/pip install ".[${EXTRAS}]"

FROM python:${PYTHON_VERSION}-slim
# A system user without a login; its uid is fixed so that volume ownership survives a rebuild.
RUN groupadd --system --gid 10001 difychat \
    && useradd --system --uid 10001 --gid difychat --home-dir /data --no-create-home --shell /usr/sbin/nologin difychat \
    && mkdir /data && chown difychat:difychat /data
COPY --from=build /opt/difychat /opt/difychat
ENV PATH=/opt/difychat/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DIFYCHAT_DATA_DIR=/data \
    DIFYCHAT_PORT=5001
USER difychat
WORKDIR /data
# SQLite (when DIFYCHAT_DATABASE_URL is not set), uploaded and tool files, the generated secret key.
VOLUME ["/data"]
EXPOSE 5001
# GET /health answers 200 once the server serves; the port follows DIFYCHAT_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('DIFYCHAT_PORT', '5001'), timeout=4)"]
# uvicorn stops gracefully on SIGTERM (docker stop): open streams get 3 s, running answers are saved.
CMD ["difychat", "serve", "--host", "0.0.0.0"]
