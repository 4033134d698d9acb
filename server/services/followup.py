"""Follow-up questions: turn "What did he say next?" into a `Question` that can be searched.

With an LLM configured, it rewrites a follow-up as a standalone question (`rewrite_messages`), which
is then both searched and asked. Offline, or when the rewrite fails (with a warning), the names and
key nouns of the previous question and the names in the previous answer (where "it" or "he" often
points) are added to the search text. Carrying terms rather than the whole previous question keeps
the old question's wording from outweighing the new one.
"""

from __future__ import annotations

import re

from index.text import ANAPHORA, STOPWORDS, content_words, words
from server.components.llm import ChatLLM, LLMError
from server.services.llm_answer import NOT_IN_ARTICLES, without_markers
from server.services.question import History, Question

# A question with this many content words or fewer rarely stands alone ("And the Kremlin?").
MAX_CONTEXT_FREE_WORDS = 2
NAME_RE = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w’'.-]*)*")
# Answers are quoted passages: only their first sentences name the referent.
ANSWER_CHARS = 300
# A rewritten follow-up longer than this is not a question but a ramble (or an answer).
MAX_REWRITE_CHARS = 500
# Recent turns are enough to resolve a reference, and keep the rewrite quick.
REWRITE_TURNS = 6
REWRITE_PROMPT = """Rewrite the user's last message as one standalone question that can be understood \
without the conversation: replace pronouns and vague references with the names they refer to. Keep \
its meaning and do not answer it. Reply with the question only."""


def needs_context(question: str) -> bool:
    return any(t in ANAPHORA for t in words(question)) or len(content_words(question)) <= MAX_CONTEXT_FREE_WORDS


def names(text: str) -> list[str]:
    """Capitalised words and runs ("Josep Borrell", "Red Cross"), minus sentence-initial stopwords."""
    found = []
    for match in NAME_RE.finditer(text):
        kept = [w for w in match.group(0).split() if w.lower().strip("’'.") not in STOPWORDS]
        if kept:
            found.append(" ".join(kept).rstrip("’'."))
    return found


def search_text(question: str, history: History) -> str:
    """The offline text to search for `question`, given earlier turns."""
    last_user = next((c for role, c in reversed(history) if role == "user" and c.strip()), None)
    if last_user is None or not needs_context(question):
        return question
    last_answer = next((c for role, c in reversed(history) if role == "assistant"), "")
    last_answer = without_markers(last_answer)[:ANSWER_CHARS]
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


def rewrite_messages(question: str, history: History) -> list[dict[str, str]]:
    """Chat messages asking an LLM for the standalone form of `question`."""
    turns = [(role, without_markers(content).strip()) for role, content in history[-REWRITE_TURNS:]]
    conversation = "\n".join(f"{role}: {content}" for role, content in turns)
    return [
        {"role": "system", "content": REWRITE_PROMPT},
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast message: {question}"},
    ]


def resolve(asked: str, history: History, llm: ChatLLM | None) -> Question:
    """The three forms of `asked`, given the conversation so far."""
    if llm is None or not history or not needs_context(asked):
        return Question(asked, search_text(asked, history), asked)
    try:
        rewritten = " ".join(llm.complete(rewrite_messages(asked, history)).split())
    except LLMError as exc:
        problem = f"failed ({exc})"
    else:
        if rewritten and len(rewritten) <= MAX_REWRITE_CHARS and NOT_IN_ARTICLES not in rewritten:
            return Question(asked, rewritten, rewritten)
        problem = "returned no usable question"
    warning = f"The LLM could not rewrite the follow-up: it {problem}; searched with the names of earlier turns."
    return Question(asked, search_text(asked, history), asked, (warning,))
