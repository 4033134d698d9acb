"""GET /healthz."""

from fastapi import APIRouter, Depends

from server.api_models import Health
from server.container import Container
from server.dependencies import container

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(c: Container = Depends(container)) -> Health:
    articles, chunks = c.store.counts()
    mode = c.answers.mode
    return Health(
        status="ok",
        articles=articles,
        chunks=chunks,
        vector_store=c.store.location,
        answer_mode=mode,
        llm_model=c.settings.llm_model if mode == "llm" else None,
        embedding_model=c.embedder.name,
    )
