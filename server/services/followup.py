"""Follow-up questions: turn "What did he say next?" into a `Question` that can be searched.

A question is a follow-up only when it says so: a personal pronoun pointing back ("What did *he*
say?", "Who rejected *it*?"), an ellipsis that asks the last question about something
else ("*And* the Kremlin?", "*What about* Turkey?"), or no content words at all ("Why?", "When was
that?"). Any other question stands alone and is answered exactly as without the conversation, however
short ("Who was Rollo?"): counting words took short standalone questions for follow-ups and answered
them from the previous turn (measured on bench/sets/conversations.jsonl).

With an LLM configured, a follow-up is rewritten as a standalone question (`rewrite_messages`),
which is then both searched and asked. Offline, or when the rewrite fails (with a warning), terms of
the previous question (itself resolved the same way, so a chain of follow-ups keeps its subject) are
added to the search text: its names for a pronoun (and the names opening the previous answer, where
"it" or "he" often points; carrying its other words too measured worse), its words other than names
for an ellipsis that names something new ("And the Kremlin?": the new name replaces the old), all its
words for one that does not ("And the metropolitan area?": still Warsaw's), all of it for a bare
question. Carrying terms rather than the whole previous question keeps the old question's wording from
outweighing the new one. Either way the follow-up keeps the answer it leans on (`Question.leans_on`):
the articles that answer quoted are searched first, the sentence after a quoted one ranks higher, and
a quoted one without the number or date the follow-up asks for ranks lower (scoring.py).
"""

from __future__ import annotations

import re

from index.text import STOPWORDS, content_stems, content_words, words
from server.components.llm import ChatLLM, LLMError
from server.services.llm_answer import NOT_IN_ARTICLES, without_markers
from server.services.question import FollowUp, History, Question

# Words that point back to someone or something named before. Not "this", "that", "there" or "then":
# in questions they are as often relative ("the deal that ended…") or existential ("Are there…").
POINTERS = frozenset({"he", "him", "his", "she", "her", "hers", "it", "its", "they", "them", "their", "theirs"})
# The last question again, about something else: "And the Kremlin?", "What about Turkey?".
ELLIPSIS = re.compile(r"^\W*(?:and|but|also|what about|how about|same for|what of)\b", re.IGNORECASE)
NAME_RE = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w’'.-]*)*")
# Answers are quoted passages: only their first sentences name the referent.
ANSWER_CHARS = 300
# A follow-up of a follow-up of…: the subject is looked for this many questions back at most.
MAX_CHAIN = 3
# A rewritten follow-up longer than this is not a question but a ramble (or an answer).
MAX_REWRITE_CHARS = 500
# Recent turns are enough to resolve a reference, and keep the rewrite quick.
REWRITE_TURNS = 6
# A question ends with a question mark (closing quotes or brackets aside).
QUESTION_END = re.compile(r"\?[\"'”’)\]]*$")
REWRITE_PROMPT = """Rewrite the user's last message as one standalone question that can be understood \
without the conversation: replace pronouns and vague references with the names they refer to. Keep \
its meaning and do not answer it. Reply with the question only."""


def follow_up_kind(question: str) -> FollowUp | None:
    """How `question` leans on the conversation, or None when it stands alone."""
    if ELLIPSIS.match(question):
        return "ellipsis"
    if any(w in POINTERS for w in words(question)):
        return "pointer"
    return None if content_words(question) else "bare"


def names(text: str) -> list[str]:
    """Capitalised words and runs ("Josep Borrell", "Red Cross"), minus sentence-initial stopwords."""
    found = []
    for match in NAME_RE.finditer(text):
        kept = [w for w in match.group(0).split() if w.lower().strip("’'.") not in STOPWORDS]
        if kept:
            found.append(" ".join(kept).rstrip("’'."))
    return found


def _last_exchange(history: History) -> tuple[str, str, History] | None:
    """(last user question, the answer to it, the turns before that question)."""
    for i in range(len(history) - 1, -1, -1):
        role, content = history[i]
        if role == "user" and content.strip():
            answer = next((c for r, c in history[i + 1 :] if r == "assistant"), "")
            return content, answer, history[:i]
    return None


def search_text(question: str, history: History, depth: int = 0) -> str:
    """The offline text to search for `question`, given earlier turns."""
    kind = follow_up_kind(question)
    last = _last_exchange(history) if kind and depth < MAX_CHAIN else None
    if kind is None or last is None:
        return question
    last_user, last_answer, before = last
    previous = search_text(last_user, before, depth + 1)  # what the previous question was about
    if kind == "ellipsis" and names(question):  # "And the Kremlin?": the new name replaces the old
        previous_names = {w for name in names(previous) for w in words(name)}
        carried = sorted(content_words(previous) - previous_names) or names(previous)
    elif kind == "ellipsis":  # "And the metropolitan area?": of the same place
        carried = sorted(content_words(previous))
    elif kind == "pointer":  # a name: the previous question's, or one its answer opens with
        carried = (names(previous) or sorted(content_words(previous))) + names(
            without_markers(last_answer)[:ANSWER_CHARS])
    else:
        carried = [previous]
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


def rewrite_problem(rewritten: str, asked: str, history: History) -> str | None:
    """What is wrong with an LLM's rewrite of a follow-up, or None: it must be one question (not an
    answer, not a statement such as "The Kremlin spokesman mentioned in the article is Vladimir Putin."),
    keep the asked question's own words, and name only what the conversation named."""
    if not rewritten or len(rewritten) > MAX_REWRITE_CHARS or NOT_IN_ARTICLES in rewritten:
        return "returned no usable question"
    if not QUESTION_END.search(rewritten) or rewritten.count("?") > 1:
        return f"returned a statement, not one question (“{rewritten[:80]}”)"
    own = content_stems(asked)
    if own and len(own & content_stems(rewritten)) < len(own) / 2:
        return f"changed the question (“{rewritten[:80]}”)"
    said = content_stems(" ".join(content for _, content in history) + " " + asked)
    if new := [n for n in names(rewritten) if not content_stems(n) <= said]:
        return f"named {new[0]}, whom the conversation does not name"
    return None


def resolve(asked: str, history: History, llm: ChatLLM | None) -> Question:
    """The three forms of `asked`, given the conversation so far."""
    if (kind := follow_up_kind(asked)) is None or (last := _last_exchange(history)) is None:
        return Question(asked, asked, asked)
    leans_on = last[1]
    if llm is None:
        return Question(asked, search_text(asked, history), asked, follow_up=kind, leans_on=leans_on)
    try:
        rewritten = " ".join(llm.complete(rewrite_messages(asked, history)).text.split())
    except LLMError as exc:
        problem: str | None = f"failed ({exc})"
    else:
        if (problem := rewrite_problem(rewritten, asked, history)) is None:
            return Question(asked, rewritten, rewritten, follow_up=kind, leans_on=leans_on)
    warning = f"The LLM could not rewrite the follow-up: it {problem}; searched with the names of earlier turns."
    return Question(asked, search_text(asked, history), asked, (warning,), follow_up=kind, leans_on=leans_on)
