"""FastAPI dependencies: the routers get services from the app's container, never build them. Declare
a parameter with one of the `…Dep` aliases (`articles: ArticlesDep`) to receive that service."""

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


def answers(request: Request) -> AnswerService:
    return container(request).answers


def articles(request: Request) -> ArticleService:
    return container(request).articles


def chat(request: Request) -> ChatService:
    return container(request).chat


def feeds(request: Request) -> FeedService:
    return container(request).feeds


def settings(request: Request) -> Settings:
    return container(request).settings


AnswersDep = Annotated[AnswerService, Depends(answers)]
ArticlesDep = Annotated[ArticleService, Depends(articles)]
ChatDep = Annotated[ChatService, Depends(chat)]
FeedsDep = Annotated[FeedService, Depends(feeds)]
SettingsDep = Annotated[Settings, Depends(settings)]
