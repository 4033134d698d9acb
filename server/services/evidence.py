"""The evidence model: how strongly a sentence supports an answer to a question, and how much is
enough. Formula, weight and the threshold calibrated for them live together here; `bench.calibrate`
reads them from here, so the calibrated threshold cannot silently drift from the formula."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvidenceModel:
    """evidence = cosine(sentence, question) + overlap_weight × share of the question's content
    stems that the sentence holds.

    The word share counts a code or name that the embedding model blurs ("KR-5531"). `min_evidence`
    is the least evidence for an answer, chosen by `python -m bench.calibrate` for exactly this
    formula, weight and the default (ONNX int8) embedder (measured: answers 99.0 % of the labelled
    answerable questions, refuses 6/6 off-topic ones); change any of them and re-run the calibration.
    """

    overlap_weight: float = 0.25
    min_evidence: float = 0.50

    def evidence(self, cosine: float, overlap: float) -> float:
        return cosine + self.overlap_weight * overlap


EVIDENCE = EvidenceModel()
