# articlechat in a container, talking to the Chroma server from docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
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
