"""A question in its three forms, one name each everywhere in `server/services/`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

History = Sequence[tuple[str, str]]  # earlier (role, content) turns, oldest first
# How a follow-up leans on the conversation (see followup.py): a pronoun ("What did he say?"), an
# ellipsis ("And the Kremlin?"), or no words of its own ("Why?").
FollowUp = Literal["pointer", "ellipsis", "bare"]


@dataclass(frozen=True)
class Question:
    asked: str  # as the user typed it (trimmed)
    # What is searched, and what the answer's sentences are scored against (word overlap, question
    # type): `asked`, plus the names of earlier turns when it leans on them, or the LLM's standalone
    # rewrite of it (see followup.py).
    search_text: str
    # What an LLM is asked: its standalone rewrite, or `asked` (the offline search text, with its
    # carried names, is no question).
    standalone: str
    warnings: tuple[str, ...] = ()
    # How it leans on the conversation, or None: a question that stands alone is answered exactly as
    # without history.
    follow_up: FollowUp | None = None
    # For a follow-up: the answer it leans on. The articles that answer quoted are searched first
    # (see search.PassageSearch.find).
    leans_on: str = ""
