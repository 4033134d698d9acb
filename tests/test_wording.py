"""How a question's words meet a sentence's: possessives, words about the article itself, and word
forms. Each shows in answers a reader gets."""

from __future__ import annotations

from index.text import content_stems, content_words, words

ARTICLE = """Harbour report

Shipping

Container traffic grew steadily through the spring and the summer months.
The port authority's director Ada Lind confirmed that dredging of the channel resumed in May.
Cruise arrivals fell slightly compared with the previous season.
"""


def test_word_forms():
    assert words("NATO's chief and the ICRC’s staff") == ["nato", "chief", "and", "the", "icrc", "staff"]
    assert content_words("Who is the envoy mentioned in the article?") == {"envoy"}
    assert content_stems("What did they confirm?") == content_stems("it was confirmed")
    # Initials with dots are a word, and not the pronoun "us": "Which U.S. president…" asks about "U.S.".
    assert content_words("Which U.S. president spoke to us?") == {"u.s", "president", "spoke"}
    assert words("a U.N.-backed plan") == ["a", "u.n", "backed", "plan"]


def test_possessive_and_article_words_do_not_hide_the_answer(make_container):
    c = make_container(seed_sample=False)
    c.ingestion.ingest_text(ARTICLE, article_id="harbour")
    answer = c.answers.ask("Who is the port authority's director mentioned in the article?")
    assert answer.answered and "Ada Lind" in answer.answer
    answer = c.answers.ask("What did the director confirm?")
    assert answer.answered and "dredging of the channel resumed" in answer.answer
