"""Follow-up questions: turn "What did he say next?" into a search that carries its referent.

With an LLM configured, it rewrites the follow-up as a standalone question (`rewrite_messages`);
the answering service falls back to the method below when it fails.

Offline and deterministic: when the question leans on earlier turns (a pronoun, or too few content
words to stand alone), the names and key nouns of the previous question, and the names in the
previous answer (where "it" or "he" often points), are added to it. Carrying terms rather than the
whole previous question keeps the old question's wording from outweighing the new one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

import Stemmer

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
    # Words about the text itself ("Who is the envoy mentioned in the article?") ask nothing of it.
    "article", "articles", "mention", "mentions", "mentioned", "text", "passage",
} | ANAPHORA
POSSESSIVE = re.compile(r"['’]s$")
_STEMMER = Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-case words, without quotes around them or a possessive "'s" ("NATO's" -> "nato")."""
    return [POSSESSIVE.sub("", w.lower()).strip("'’") for w in WORD_RE.findall(text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 1}


@lru_cache(maxsize=65536)
def content_stems(text: str) -> frozenset[str]:
    """Stemmed content words, so "confirm" meets "confirmed" (the same Snowball stemmer as BM25)."""
    return frozenset(_STEMMER.stemWords(sorted(content_words(text))))


def needs_context(question: str) -> bool:
    tokens = words(question)
    return any(t in ANAPHORA for t in tokens) or len(content_words(question)) <= 2


MARKER = re.compile(r"\s?\[\d+\]")
NAME_RE = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w’'.-]*)*")
# Answers are quoted passages: only their first sentences name the referent.
ANSWER_CHARS = 300


def names(text: str) -> list[str]:
    """Capitalised words and runs ("Josep Borrell", "Red Cross"), minus sentence-initial stopwords."""
    found = []
    for match in NAME_RE.finditer(text):
        words = [w for w in match.group(0).split() if w.lower().strip("’'.") not in STOPWORDS]
        if words:
            found.append(" ".join(words).rstrip("’'."))
    return found


def search_query(question: str, history: Sequence[tuple[str, str]]) -> str:
    """The text to search for `question`, given earlier (role, content) turns, oldest first."""
    last_user = next((c for role, c in reversed(history) if role == "user" and c.strip()), None)
    if last_user is None or not needs_context(question):
        return question
    last_answer = next((c for role, c in reversed(history) if role == "assistant"), "")
    last_answer = MARKER.sub("", last_answer)[:ANSWER_CHARS]
    # The previous question's names, or its key words when it names no one, then the answer's names.
    carried = (names(last_user) or sorted(content_words(last_user))) + names(last_answer)
    seen = set(words(question))
    terms = []
    for term in carried:
        new = [w for w in words(term) if w not in seen]
        if new:
            terms.append(term)
            seen.update(new)
    return f"{question} {' '.join(terms)}" if terms else question


REWRITE_PROMPT = """Rewrite the user's last message as one standalone question that can be understood \
without the conversation: replace pronouns and vague references with the names they refer to. Keep \
its meaning and do not answer it. Reply with the question only."""
# Recent turns are enough to resolve a reference, and keep the rewrite quick.
REWRITE_TURNS = 6


def rewrite_messages(question: str, history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Chat messages asking an LLM for the standalone form of `question`."""
    turns = [(role, MARKER.sub("", content).strip()) for role, content in history[-REWRITE_TURNS:]]
    conversation = "\n".join(f"{role}: {content}" for role, content in turns)
    return [
        {"role": "system", "content": REWRITE_PROMPT},
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast message: {question}"},
    ]
