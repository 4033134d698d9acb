"""FastAPI dependencies: the routers get services from the app's container, never build them. Declare
a parameter with one of the `…Dep` aliases (`articles: ArticlesDep`) to receive that service.

They are `async def`, run on the event loop: FastAPI runs a plain `def` dependency in a worker thread, a
round trip per dependency and request. None blocks: the start-up builds the answering and article
services, and the others are built without I/O."""

from typing import Annotated

from fastapi import Depends, Request

from server.container import Container
from server.services.answering import AnswerService
from server.services.articles import ArticleService
from server.services.chat import ChatService
from server.services.feeds import FeedService
from server.settings import Settings


def container(request: Request) -> Container:
    return request.app.state.container


async def answers(request: Request) -> AnswerService:
    return container(request).answers


async def articles(request: Request) -> ArticleService:
    return container(request).articles


async def chat(request: Request) -> ChatService:
    return container(request).chat


async def feeds(request: Request) -> FeedService:
    return container(request).feeds


async def settings(request: Request) -> Settings:
    return container(request).settings


AnswersDep = Annotated[AnswerService, Depends(answers)]
ArticlesDep = Annotated[ArticleService, Depends(articles)]
ChatDep = Annotated[ChatService, Depends(chat)]
FeedsDep = Annotated[FeedService, Depends(feeds)]
SettingsDep = Annotated[Settings, Depends(settings)]
