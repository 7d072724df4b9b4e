# Lesion Lens web app: gunicorn (hooks in gunicorn.conf.py) serving dashboard.app:server on port 8000, as a
# non-root user, with the case store and the model bundles on volumes. TLS and slow-client handling belong in
# front of it (deploy/nginx.conf.template, or the hospital's reverse proxy): never publish port 8000 to users.
# README "Hospital IT" has the whole procedure; in short:
#
#   docker build -t lesionlens .
#   docker run -d --name lesionlens -p 127.0.0.1:8000:8000 \
#       -v lesionlens-home:/var/lib/lesionlens -v /srv/lesionlens/models:/models:ro \
#       -e DATABASE_URL=postgresql://lesionlens@db/lesionlens lesionlens
#   docker exec -it lesionlens python -m dashboard ensure-admin     # migrate, first admin (password printed once)
#
# Nothing is downloaded at run time: every wheel is installed (pinned by sha256) at build time, pip is told
# never to reach an index afterwards, models come from the /models volume and TensorFlow reads no hub.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# binutils: tools/slim_env.py strips TensorFlow's symbol tables (~240 MB smaller)
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# a local mirror (the hospital's, or a devpi/wheelhouse in the build network) instead of PyPI:
#   docker build --build-arg PIP_INDEX_URL=https://mirror.example/simple -t lesionlens .
ARG PIP_INDEX_URL=https://pypi.org/simple
COPY requirements.txt tools/slim_env.py /build/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --index-url "${PIP_INDEX_URL}" --require-hashes -r /build/requirements.txt \
 && /opt/venv/bin/python /build/slim_env.py

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 lesionlens \
 && useradd --system --uid 10001 --gid lesionlens --home-dir /var/lib/lesionlens --shell /usr/sbin/nologin lesionlens \
 && mkdir -p /var/lib/lesionlens /models \
 && chown lesionlens:lesionlens /var/lib/lesionlens /models
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# the code is owned by root and read-only for the app's user
COPY alembic.ini gunicorn.conf.py ./
COPY alembic ./alembic
COPY assets ./assets
COPY dashboard ./dashboard
COPY pipeline ./pipeline
COPY deploy ./deploy
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_INDEX=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLCONFIGDIR=/tmp/matplotlib \
    LESIONLENS_HOME=/var/lib/lesionlens \
    LESIONLENS_MODELS=/models \
    LESIONLENS_TRUST_PROXY=1 \
    LESIONLENS_SECURE_COOKIES=1 \
    WEB_CONCURRENCY=2
USER lesionlens
VOLUME ["/var/lib/lesionlens", "/models"]
EXPOSE 8000
# /healthz answers 200 {"status": "ok"} or 503 (urlopen raises on 503: the check fails); the first start loads
# and warms the model in each worker, hence the start period
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["gunicorn", "dashboard.app:server", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "--threads", "4", "--timeout", "120"]
