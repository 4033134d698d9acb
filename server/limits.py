"""Every limit of a request, defined once: the HTTP models, the settings and the CLI import them, so a
limit and the message that names it never disagree."""

from __future__ import annotations

# A question longer than this is a pasted document, not a question (after trimming white space).
MAX_QUESTION_CHARS = 2000
# Passages per question: 1 is the smallest answer; past 20 the extra passages only slow the scorer.
MIN_TOP_K = 1
MAX_TOP_K = 20
# A chat's history: the newest turns matter; 20 turns of 8,000 characters bound the body (~160 kB).
MAX_HISTORY_TURNS = 20
MAX_TURN_CHARS = 8000
# Restricting a question to some articles.
MAX_ARTICLE_IDS = 100
# Article titles given by the user.
MAX_TITLE_CHARS = 500
# Article text sent as JSON; an upload is capped by ARTICLECHAT_MAX_UPLOAD_BYTES instead, whose
# default (5,000,000 bytes) holds at least this many characters of UTF-8.
MAX_ARTICLE_CHARS = 2_000_000
# Articles in one POST /articles/batch; the whole body is also capped by ARTICLECHAT_MAX_UPLOAD_BYTES.
MAX_BATCH_ARTICLES = 100
# Of those, the ones given by URL: each is a fetch of up to ARTICLECHAT_FETCH_TIMEOUT, one after the other.
MAX_BATCH_URLS = 20
# Redirects followed when fetching a page or a feed (each hop's address is checked again).
MAX_REDIRECTS = 5
# Entries of one feed read in a run (a news feed lists 10–100; the rest of a longer one is ignored).
MAX_FEED_ENTRIES = 1000
# `sources` of a question: publications to search (names or hosts).
MAX_SOURCES = 20


# Request bodies, limited as they stream in (a declared Content-Length over the limit is refused
# before anything is read). /ask: the largest valid body, every character escaped as \uXXXX (6 bytes)
# by a JSON encoder, plus room for the field names.
MAX_ASK_BODY_BYTES = 6 * (MAX_QUESTION_CHARS + MAX_HISTORY_TURNS * MAX_TURN_CHARS + MAX_ARTICLE_IDS * 128) + 65_536
# POST /v1/chat/completions: chat clients send the whole conversation every time, and only its most
# recent MAX_HISTORY_TURNS turns are read (each cut to MAX_TURN_CHARS), so a long conversation is
# accepted rather than refused: 4 MiB holds ~500,000 characters escaped as \uXXXX, more than the context
# window of the models these clients are built for, and parses in tens of milliseconds.
MAX_CHAT_BODY_BYTES = 4 * 1024 * 1024
# Article bodies: ARTICLECHAT_MAX_UPLOAD_BYTES for the article plus this much for the envelope
# (multipart boundaries and headers, the JSON field names, title and id).
ARTICLE_BODY_SLACK_BYTES = 65_536
# Any other request (GET, DELETE…) has no business sending a body larger than this.
DEFAULT_BODY_BYTES = 65_536
# An id echoed back in an error message: at most this many ids, each cut to this length.
MAX_ECHOED_IDS = 5
MAX_ECHOED_CHARS = 64


def echo_ids(ids: list[str]) -> str:
    """Ids for an error message, capped so a huge request cannot make a huge response."""
    shown = [i if len(i) <= MAX_ECHOED_CHARS else i[: MAX_ECHOED_CHARS - 1] + "…" for i in ids[:MAX_ECHOED_IDS]]
    more = f" and {len(ids) - MAX_ECHOED_IDS} more" if len(ids) > MAX_ECHOED_IDS else ""
    return ", ".join(shown) + more


def question_error(question: str) -> str | None:
    """What is wrong with a (trimmed) question, or None."""
    if not question:
        return "question is blank: ask something"
    if len(question) > MAX_QUESTION_CHARS:
        return f"question is {len(question)} characters long: keep it to {MAX_QUESTION_CHARS}"
    return None
