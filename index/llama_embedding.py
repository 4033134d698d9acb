"""The default ONNX model (index.embedding.OnnxMiniLM) as a llama-index embedding model, so it plugs into
llama-index pipelines as any other. A module of its own: importing llama-index takes ~0.5 s, and
answering a question needs only the model."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from index.embedding import OnnxMiniLM


class OnnxMiniLMEmbedding(BaseEmbedding):
    _model: OnnxMiniLM = PrivateAttr()

    def __init__(self, model: OnnxMiniLM, **kwargs: Any):
        super().__init__(**kwargs)
        self._model = model

    @classmethod
    def class_name(cls) -> str:
        return "OnnxMiniLMEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.encode([text])[0].tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model.encode(texts).tolist() if texts else []

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._get_text_embeddings(texts)
