"""Follow-up questions: turn "What did he say next?" into a search that carries its referent.

Offline and deterministic: when the question leans on earlier turns (a pronoun, or too few content
words to stand alone), the previous user question is searched together with it, so the entity it
names steers retrieval.
"""

from __future__ import annotations

import re
from typing import Sequence

WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
ANAPHORA = {
    "he", "him", "his", "she", "her", "hers", "they", "them", "their", "theirs", "it", "its",
    "this", "that", "these", "those", "there", "then", "former", "latter", "same", "else", "other",
}
STOPWORDS = {
    "a", "an", "the", "and", "or", "but", "of", "in", "on", "at", "to", "for", "from", "by", "with",
    "about", "as", "into", "over", "after", "before", "is", "are", "was", "were", "be", "been", "do",
    "does", "did", "has", "have", "had", "what", "which", "who", "whom", "whose", "when", "where",
    "why", "how", "much", "many", "say", "said", "tell", "me", "any", "some", "not", "no", "next",
    "also", "more", "can", "could", "would", "will", "should", "so", "than", "there", "i", "you", "we",
    "our", "your", "my", "us", "if", "all", "each", "very", "just", "up", "out", "according",
} | ANAPHORA


def words(text: str) -> list[str]:
    return [w.lower().strip("'’") for w in WORD_RE.findall(text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 1}


def needs_context(question: str) -> bool:
    tokens = words(question)
    return any(t in ANAPHORA for t in tokens) or len(content_words(question)) <= 2


def search_query(question: str, history: Sequence[tuple[str, str]]) -> str:
    """The text to search for `question`, given earlier (role, content) turns, oldest first."""
    previous = [content for role, content in history if role == "user" and content.strip()]
    if not previous or not needs_context(question):
        return question
    return f"{previous[-1]} {question}"
