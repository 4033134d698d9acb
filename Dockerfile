# articlechat in a container, talking to the Chroma server from docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
# The CPU build of torch first: the default torch wheel on PyPI for Linux carries CUDA (several GB).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY server ./server
COPY index ./index
COPY ui ./ui
RUN pip install --no-cache-dir .
ENV ARTICLECHAT_HOST=0.0.0.0 \
    ARTICLECHAT_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["articlechat", "serve"]
