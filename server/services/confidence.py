"""Whether an answer holds what was asked, and how likely it is to be right.

- **Answer type.** A question asking for a count, an amount, a date or a duration ("How many…",
  "When…", "How long…") is refused when the sentence that would answer it holds no number, date or
  span of time: it resembles the question without answering it ("How many ICRC observers were
  deployed?" against "the ICRC deployed observers at both crossings"). Measured with `bench.eval`:
  our related-but-unanswerable questions refused 2 → 14 of 74, SQuAD's unanswerable 6 → 9 of 140,
  answerable ones wrongly refused unchanged (0 of 52 on the sample article, 2 of 160 on SQuAD).
  ("Who" and "where" are left out: their answers are as often "an architect" as a name.)
- **Confidence.** The probability that the response is right (a right answer, or a refusal of a
  question the articles do not answer), from a logistic model of the answer's evidence, of the share
  of the question's words its sentence holds, of its margin over the next sentence, and of whether it
  answered. `python -m bench.calibrate` fits the weights on the labelled sets' tuning split and
  reports the calibration error on the held-out split; change the evidence formula or the embedder
  and re-run it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from index.text import content_stems
from server.services.scoring import ScoredSentence, expected_kind, strict_kind


def kind_missing(search_text: str, best: ScoredSentence | None) -> bool:
    """The question asks for a number, a date or a duration, and the best sentence holds none."""
    kind = expected_kind(search_text)
    return kind is not None and strict_kind(kind) and (best is None or not kind.search(best.text))


@dataclass(frozen=True)
class Features:
    evidence: float  # the best sentence's
    coverage: float  # share of the question's content stems in the best sentence
    margin: float  # best evidence minus the next sentence's
    answered: bool
    topic: bool  # answered with a named section's opening (its evidence says little)

    @classmethod
    def of(cls, search_text: str, sentences: list[ScoredSentence], answered: bool, topic: bool) -> Features:
        if not sentences:
            return cls(-1.0, 0.0, 0.0, answered, topic)
        best = sentences[0]
        asked = content_stems(search_text)
        coverage = len(asked & content_stems(best.text)) / len(asked) if asked else 0.0
        second = sentences[1].evidence if len(sentences) > 1 else 0.0
        return cls(best.evidence, coverage, best.evidence - second, answered, topic)


@dataclass(frozen=True)
class ConfidenceModel:
    """P(right) = logistic(w · [1, evidence, coverage, margin, answered, answered × evidence, topic])."""

    # Fitted by `python -m bench.confidence` on 301 labelled questions (held-out ECE 0.048 on 168).
    weights: tuple[float, ...] = (1.887, 1.633, 0.303, 3.171, -6.394, 2.724, 7.226)

    @staticmethod
    def inputs(f: Features) -> tuple[float, ...]:
        """The model's inputs (bench.confidence fits the weights on exactly these)."""
        a = 1.0 if f.answered else 0.0
        return 1.0, f.evidence, f.coverage, f.margin, a, a * f.evidence, 1.0 if f.topic else 0.0

    def confidence(self, f: Features) -> float:
        z = sum(w * v for w, v in zip(self.weights, self.inputs(f), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


CONFIDENCE = ConfidenceModel()
