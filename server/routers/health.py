"""GET /healthz."""

from fastapi import APIRouter

from server.api_models import Health
from server.dependencies import AnswersDep, ArticlesDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(articles: ArticlesDep, answers: AnswersDep, settings: SettingsDep) -> Health:
    """Article and chunk counts, the vector store in use, the answer mode and the models."""
    stats = articles.stats()
    mode = answers.mode
    return Health(
        status="ok",
        articles=stats.articles,
        chunks=stats.chunks,
        vector_store=stats.vector_store,
        answer_mode=mode,
        llm_model=settings.llm_model if mode == "llm" else None,
        embedding_model=stats.embedding_model,
    )
