"""FastAPI dependencies: the routers get services from the app's container, never build them."""

from fastapi import Request

from index.ingest import IngestionService
from server.container import Container
from server.services.answering import AnswerService


def container(request: Request) -> Container:
    return request.app.state.container


def answers(request: Request) -> AnswerService:
    return container(request).answers


def ingestion(request: Request) -> IngestionService:
    return container(request).ingestion
