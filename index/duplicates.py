"""Syndicated copies: the same story published at two URLs (a wire story on several sites, a page and its
AMP version under another address) is stored once, the other URLs kept as its aliases.

Two texts are copies when the Jaccard similarity of their sets of word 5-grams ("shingles") is at
least DUPLICATE_JACCARD. Measured by `python -m bench.extraction` (README, "Syndicated copies"): a wire
copy with a new headline, a sentence reworded, a paragraph dropped and a note appended scores 0.72
against its original; lighter and heavier edits of the sample article and of SQuAD's articles 0.52–0.95;
a different story on the same topic (an explainer of the same strike) 0.00, and no two of the 36 other
articles more than 0.01. The threshold, 0.5, sits between, nearer the copies: edits that rewrite half
the sentences make another story.

Each text gets a MinHash signature (SIGNATURE_SIZE hash functions; its agreement with another's
estimates their Jaccard similarity within ±0.05 at 0.5) and LSH band keys (BANDS bands of ROWS values:
texts alike at 0.5 share at least one band with probability 0.87, at 0.7 with 0.999), stored in the
article registry's metadata, so that the store finds the candidates with one `where` query rather
than reading every signature.
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
BANDS, ROWS = 32, 4
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
