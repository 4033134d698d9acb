# articlechat in a container; docker-compose.yml runs it with a Chroma server (README, "Docker").
# tests/test_deploy.py checks this file and builds its Python package from exactly what it COPYs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The server runs as a user of its own, not root; /data (its volume) is that user's.
RUN groupadd --system --gid 10001 articlechat \
    && useradd --system --uid 10001 --gid 10001 --create-home articlechat \
    && mkdir /data && chown articlechat:articlechat /data

WORKDIR /app

# The dependencies first, from pyproject.toml alone, so that a change to the code reuses this layer
# (~700 MB, minutes to install): [project].dependencies, the set `pip install .` installs, no extras.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself, with its package data (the sample article, the web UI).
COPY README.md ./
COPY server ./server
COPY index ./index
COPY ui ./ui
RUN pip install --no-deps . && rm -rf build ./*.egg-info

USER 10001:10001
ENV ARTICLECHAT_HOST=0.0.0.0 \
    ARTICLECHAT_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
# No curl in python:3.11-slim: Python asks /healthz (open even when ARTICLECHAT_API_KEY protects reads).
# The first start loads the model and indexes the sample article: allow it a minute.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ARTICLECHAT_PORT', '8000'), timeout=4)"]
CMD ["articlechat", "serve"]
