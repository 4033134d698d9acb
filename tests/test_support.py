"""The support check of LLM answers (server/services/support.py) with the real embedder over the
sample article: what it keeps and what it drops, on the hand-labelled claims of bench/sets/support.jsonl
(paraphrases, short answers and quotes; invented facts, changed numbers and names, miscitations,
echoes, planted orders) and on the claims a real small model wrote."""

from __future__ import annotations

import pytest

from bench.common import load_jsonl
from bench.support import HAND_SET, evaluate
from server.container import Container
from server.services.support import SupportChecker
from tests.conftest import SAMPLE, SAMPLE_ID, make_settings


@pytest.fixture(scope="module")
def sample(tmp_path_factory, embedder):
    container = Container(make_settings(tmp_path_factory.mktemp("support"), seed_sample=False), embedder=embedder)
    container.ingestion.ingest_text(SAMPLE.read_text(), article_id=SAMPLE_ID)
    return container


@pytest.fixture(scope="module")
def verdicts(sample):
    return evaluate(load_jsonl(HAND_SET), sample.answers, SupportChecker(sample.embedder), show=False)


def test_no_unsupported_claim_is_kept(verdicts):
    # "relation": the passage's own words in a wrong relation, which a check of words, names, numbers and
    # similarity cannot see (README, "LLM answers, checked"); counted there, not hidden here.
    kept = [(r["kind"], r["sentence"]) for r in verdicts
            if not r["supported"] and r["kept"] and r["kind"] != "relation"]
    assert kept == []
    assert len([r for r in verdicts if not r["supported"]]) >= 50  # every labelled one was checked


def test_supported_claims_are_kept(verdicts):
    supported = [r for r in verdicts if r["supported"]]
    dropped = [r["sentence"] for r in supported if not r["kept"]]
    assert len(supported) >= 50 and len(dropped) <= len(supported) * 0.05, dropped


@pytest.mark.parametrize("claim, question, reason", [
    ("Each side released 1,500 detainees.", "How many detainees does each side release?", "number"),
    ("Recep Tayyip Erdogan hosted the delegations in Istanbul.", "Who hosted the delegations in Istanbul?", "name"),
    ("The Russian and Ukrainian delegations were the ones who arranged the reception centers for returning "
     "prisoners.", "Who arranged the reception centers for returning prisoners?", "new words"),
])
def test_why_a_claim_is_dropped(sample, claim, question, reason):
    found = sample.answers.find(question)
    checker = SupportChecker(sample.embedder)
    vector = checker.embed([claim])[0]
    verdicts = [checker.check(claim, vector, (n,), found.chunks, found.sentences, found.question.search_text,
                              found.embedding) for n in sorted(found.numbers)]
    assert not any(v.supported for v in verdicts)
    assert verdicts[0].reason == reason

