"""Logging of the CLI and of each server worker: INFO lines on stderr, one format."""

from __future__ import annotations

import logging

FORMAT = "%(levelname)s %(name)s: %(message)s"
# `serve --workers N`: each line names the worker process that wrote it.
WORKER_FORMAT = "%(levelname)s [%(process)d] %(name)s: %(message)s"


def configure(*, worker: bool = False) -> None:
    logging.basicConfig(level=logging.INFO, format=WORKER_FORMAT if worker else FORMAT)
    # Chroma's HttpClient goes through httpx, which logs every call at INFO: 4-7 lines a question with a
    # Chroma server (ARTICLECHAT_CHROMA_HOST), and the CPU to write them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
