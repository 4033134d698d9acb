"""Server-Sent Events responses, for every streaming endpoint alike."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from fastapi.responses import StreamingResponse

log = logging.getLogger("articlechat")


def event_stream(events: Iterator[str], error: Callable[[Exception], str]) -> StreamingResponse:
    """`events`, each a complete SSE block; if producing one fails, `error(exc)` is the last: the status
    line is sent already, so the failure is reported in-band."""

    def guarded() -> Iterator[str]:
        try:
            yield from events
        except Exception as exc:
            log.exception("answering failed mid-stream")
            yield error(exc)

    return StreamingResponse(guarded(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
