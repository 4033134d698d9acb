"""Syndicated copies: the same story published at two URLs (a wire story on several sites, a page and its
AMP version under another address) is stored once, the other URLs kept as its aliases.

Two texts are copies when the Jaccard similarity of their sets of word 5-grams ("shingles") is at least
DUPLICATE_JACCARD. Measured by `python -m bench.extraction` (README, "News pages and syndicated copies"): the fixtures'
wire copy (a new headline, a sentence reworded, a paragraph dropped, a note appended) scores 0.72 against
its original; copy-desk edits of the sample article and the 35 SQuAD articles (a word in 50 replaced, a
paragraph in 10 dropped, a note added) at least 0.60, a word in 20 replaced 0.59, a quarter of the
paragraphs dropped 0.63; a different story on the same topic (an explainer of the same strike) 0.000,
and no two of the 40 distinct articles more than 0.005. 0.5 sits between, above the copies cut to their
first half (0.43–0.50) and the stories that reuse half of an earlier one (a third, counted): a developing
story's next article, published at a new URL with much of the last one's text, must stay an article.

Each text gets a MinHash signature (SIGNATURE_SIZE hash functions) whose LSH band keys (BANDS bands of
ROWS values) are stored in the article registry's metadata: the store finds the candidates with one
`where` query instead of comparing with every article. Two texts share a band with probability 0.996
at Jaccard 0.5, 0.68 at 0.3 and 0.005 at 0.05; a candidate's exact Jaccard similarity, from its stored
text, decides.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import numpy as np

DUPLICATE_JACCARD = 0.5
SHINGLE_WORDS = 5
SIGNATURE_SIZE = 128
BANDS, ROWS = 42, 3  # 126 of the 128 values
_rng = np.random.default_rng(20250304)  # fixed: signatures stored by one version are read by the next
_A = _rng.integers(0, 1 << 63, SIGNATURE_SIZE, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 1 << 63, SIGNATURE_SIZE, dtype=np.uint64)
_WORD = re.compile(r"\w+")
BAND_KEYS = tuple(f"lsh{band:02d}" for band in range(BANDS))


@dataclass(frozen=True)
class Signature:
    values: np.ndarray  # SIGNATURE_SIZE uint32

    def encode(self) -> str:
        return base64.b64encode(self.values.astype("<u4").tobytes()).decode()

    @classmethod
    def decode(cls, text: str) -> Signature | None:
        try:
            values = np.frombuffer(base64.b64decode(text), dtype="<u4")
        except ValueError:
            return None
        return cls(values) if len(values) == SIGNATURE_SIZE else None

    def bands(self) -> dict[str, str]:
        """Band key -> this text's value in that band (two texts sharing one are candidates)."""
        return {key: hashlib.blake2b(self.values[i * ROWS : (i + 1) * ROWS].astype("<u4").tobytes(),
                                     digest_size=6).hexdigest()
                for i, key in enumerate(BAND_KEYS)}

    def similarity(self, other: Signature) -> float:
        """The estimated Jaccard similarity of the two texts' shingles."""
        return float(np.mean(self.values == other.values))


def shingles(text: str) -> set[str]:
    words = _WORD.findall(text.casefold())
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def jaccard(a: str, b: str) -> float:
    """The exact similarity that signatures estimate (for measuring)."""
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def signature(text: str) -> Signature | None:
    """The MinHash signature of a text; None for a text without words."""
    found = shingles(text)
    if not found:
        return None
    hashes = np.fromiter((int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in found),
                         dtype=np.uint64, count=len(found))
    # Multiply-shift hashing (Dietzfelbinger et al.): the high 32 bits of a·x + b modulo 2**64, a odd;
    # numpy's uint64 arithmetic wraps around, which is the modulo.
    mixed = (_A[:, None] * hashes[None, :] + _B[:, None]) >> np.uint64(32)
    return Signature(mixed.min(axis=1).astype(np.uint32))
