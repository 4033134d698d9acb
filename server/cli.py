"""The `articlechat` command: serve, ingest, ask, articles, feeds, delete. It calls the same services as
the HTTP API (ArticleService, FeedService, AnswerService), built by the same container."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from server import logs
from server.limits import MAX_TOP_K, MIN_TOP_K, question_error
from server.running import RemoteArticles, RemoteFeeds, announced, find_server
from server.services.articles import (
    ArticleError,
    ArticleInput,
    ArticleNotFound,
    ArticleService,
    IngestResult,
    Outcome,
    UrlInput,
    format_of_file,
)

if TYPE_CHECKING:
    from server.container import Container
    from server.services.feeds import FeedRun, FeedService
    from server.settings import Settings

    ContainerFactory = Callable[[Settings], Container]

EXIT_USAGE = 2
SHUTDOWN_GRACE_SECONDS = 5


def main(argv: list[str] | None = None, *, make_container: ContainerFactory | None = None) -> int:
    """Run one command; `make_container` builds the components from the settings (default:
    `Container(settings)`; tests pass one that shares a loaded model)."""
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure()
    from pydantic import ValidationError

    try:
        from server.settings import get_settings

        settings = get_settings()
    except ValidationError as exc:
        print(f"error: invalid settings (check your ARTICLECHAT_* variables and .env):\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    if make_container is None:
        from server.container import Container

        make_container = Container
    return args.run(args, settings, make_container)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="articlechat", description="Chat with news articles, with cited answers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="start the HTTP server (API, docs at /docs, web UI at /)")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1, or ARTICLECHAT_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, or ARTICLECHAT_PORT)")
    serve.add_argument("--workers", type=_worker_count, metavar="N",
                       help="worker processes (default 1, or ARTICLECHAT_WORKERS); more than 1 needs a Chroma "
                            "server (ARTICLECHAT_CHROMA_HOST)")
    serve.set_defaults(run=_serve)

    ingest = sub.add_parser("ingest", help="index article files (.txt, .md, .html), directories, news pages by URL "
                                           "and the pages of RSS or Atom feeds")
    ingest.add_argument("paths", nargs="*", metavar="PATH|URL",
                        help="a file, a directory (walked), or an http(s):// URL of a news page")
    ingest.add_argument("--feed", action="append", default=[], metavar="URL",
                        help="an RSS or Atom feed: follow it and ingest its new or changed entries (repeatable)")
    ingest.add_argument("--id", dest="article_id", help="article id (only with a single file or URL)")
    ingest.add_argument("--title", help="article title (only with a single file or URL)")
    ingest.set_defaults(run=_ingest)

    feeds = sub.add_parser("feeds", help="list the followed feeds")
    feeds.add_argument("--json", action="store_true")
    feeds.set_defaults(run=_feeds)

    ask = sub.add_parser("ask", help="ask a question from the command line")
    ask.add_argument("question")
    ask.add_argument(
        "--article", action="append", dest="article_ids", metavar="ID", help="search only this article (repeatable)"
    )
    ask.add_argument("--top-k", type=int, choices=range(MIN_TOP_K, MAX_TOP_K + 1), metavar=f"{MIN_TOP_K}-{MAX_TOP_K}")
    ask.add_argument("--min-confidence", type=_probability, metavar="0-1",
                     help="refuse rather than give an answer less likely than this to be right")
    ask.add_argument("--json", action="store_true", help="print the /ask response as JSON")
    ask.set_defaults(run=_ask)

    articles = sub.add_parser("articles", help="list the indexed articles")
    articles.add_argument("--json", action="store_true")
    articles.set_defaults(run=_articles)

    delete = sub.add_parser("delete", help="remove an article and all its chunks")
    delete.add_argument("article_id", metavar="ID")
    delete.set_defaults(run=_delete)
    return parser


def _worker_count(value: str) -> int:
    from server.settings import MAX_WORKERS

    if not value.isdigit() or not 1 <= int(value) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"a number of processes from 1 to {MAX_WORKERS}, not {value!r}")
    return int(value)


def embedded_workers_error(workers: int) -> str:
    """Why `serve` refuses more than one worker on the embedded store, and what to do instead."""
    return (
        f"{workers} workers need a Chroma server: the embedded store is one process's files. Each process "
        "keeps its own copy of the vector index in memory, so a worker's searches would not find the articles "
        "another one adds until it restarts. Start a Chroma server (`chroma run --path DIR --port 8001`) and "
        "set ARTICLECHAT_CHROMA_HOST=127.0.0.1 and ARTICLECHAT_CHROMA_PORT=8001, or serve with --workers 1."
    )


def _serve(args, settings: Settings, make_container: ContainerFactory) -> int:
    # Start-up (the web framework, the app, the model) allocates ~100,000 objects that live as long as the
    # server, and ~2,000 of garbage: the collector's passes over them were ~9 % of a cold start. Off until
    # the app's start-up freezes them (server/app.py), or until this returns; spawned workers start with it on.
    gc.disable()
    try:
        return _run_server(args, settings, make_container)
    finally:
        gc.enable()


def _run_server(args, settings: Settings, make_container: ContainerFactory) -> int:
    import uvicorn

    from server.app import WORKER_APP, create_app
    from server.security import network_warning

    overrides = (("host", args.host), ("port", args.port), ("workers", args.workers))
    settings = settings.model_copy(update={k: v for k, v in overrides if v})
    if settings.workers > 1 and not settings.chroma_host:
        print(f"error: {embedded_workers_error(settings.workers)}", file=sys.stderr)
        return EXIT_USAGE
    if warning := network_warning(settings):
        logging.getLogger("articlechat").warning(warning)
    where = f"http://{settings.host}:{settings.port}"
    if settings.workers > 1:
        print(f"articlechat: serving on {where} with {settings.workers} worker processes "
              f"(store: {settings.store_location})", flush=True)
        # Each worker is a new process (spawn) that imports the app factory by name and builds its own
        # container from the same settings (environment and .env): nothing is shared but the store.
        gc.enable()  # this process only supervises them, for as long as they run
        uvicorn.run(WORKER_APP, factory=True, workers=settings.workers, host=settings.host, port=settings.port,
                    log_level="info", access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
        return 0
    print(f"articlechat: serving on {where} (store: {settings.store_location})", flush=True)
    app = create_app(container=make_container(settings))
    with announced(settings, settings.host, settings.port) as forget:
        app.state.on_shutdown.append(forget)
        # A request still running after SIGTERM gets a few seconds, not minutes.
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                    access_log=False,  # server/request_log.py logs each request once
                    timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
    return 0


def _writer(settings: Settings, make_container: ContainerFactory) -> ArticleService | RemoteArticles:
    """Where writes go: the server running on this embedded store if there is one (see server/running.py),
    else the store itself."""
    remote = find_server(settings)
    if remote is not None:
        print(f"articlechat: a server is running on this store; sending the changes to it at {remote.url}",
              file=sys.stderr)
        return remote
    return make_container(settings).articles


def is_url(arg: str) -> bool:
    return arg.lower().startswith(("http://", "https://"))


def collect_files(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to ingest (directories walked recursively, hidden entries skipped) and paths that can't be."""
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if child.is_file() and not any(part.startswith(".") for part in rel):
                    files.append(child)
        elif path.is_file():
            files.append(path)
        else:
            problems.append((path, "no such file or directory"))
    return files, problems


def _ingest(args, settings: Settings, make_container: ContainerFactory) -> int:
    from tqdm import tqdm

    if not args.paths and not args.feed:
        print("error: name at least one file, directory or URL, or a --feed URL", file=sys.stderr)
        return EXIT_USAGE
    urls = [arg for arg in args.paths if is_url(arg)]
    files, problems = collect_files([Path(arg) for arg in args.paths if not is_url(arg)])
    problems_of: list[tuple[Path | str, str]] = list(problems)
    if (args.article_id or args.title) and (len(files) + len(urls) != 1 or args.feed):
        print("error: --id and --title need exactly one file or URL", file=sys.stderr)
        return EXIT_USAGE
    articles = _writer(settings, make_container)
    sent: list[Path | str] = []  # the files and URLs given to add_many, by index
    seen_ids: dict[str, Path | str] = {}

    with tqdm(total=len(files) + len(urls), unit="article", disable=None, file=sys.stderr) as bar:

        def items() -> Iterator[ArticleInput | UrlInput]:
            """Read lazily: only a group of articles is held in memory at a time."""
            for url in urls:
                sent.append(url)
                yield UrlInput(url, args.article_id, args.title)
            for path in files:
                try:
                    format_of_file(path.name)  # reported before the file is read
                    data = path.read_bytes()
                except (ArticleError, OSError) as exc:
                    problems_of.append((path, str(exc)))
                    bar.update(1)
                    continue
                sent.append(path)
                yield ArticleInput(data, path.name, None, args.article_id, args.title, str(path))

        def done(index: int, outcome: Outcome) -> None:
            where = sent[index]
            bar.update(1)
            if not isinstance(outcome, IngestResult):
                problems_of.append((where, str(outcome)))
                return
            if outcome.article_id in seen_ids and not outcome.aliased:
                problems_of.append((where, f"same article id {outcome.article_id!r} as {seen_ids[outcome.article_id]}, "
                                           "which it replaced: ingest it alone with --id"))
            seen_ids[outcome.article_id] = where
            bar.write(_ingested_line(outcome, str(where)), file=sys.stdout)

        articles.add_many(items(), done)
    feeds_ok = True
    if args.feed:
        feeds = RemoteFeeds(articles) if isinstance(articles, RemoteArticles) else make_container(settings).feeds
        for url in args.feed:
            feeds_ok = _follow(feeds, url, problems_of) and feeds_ok
    for where, reason in problems_of:
        print(f"error: {where}: {reason}", file=sys.stderr)
    print(f"{len(seen_ids)} article(s) indexed, {len(problems_of)} problem(s)", file=sys.stderr)
    return 1 if problems_of or not feeds_ok else 0


def _ingested_line(outcome: IngestResult, where: str) -> str:
    counts = f"({outcome.sections} sections, {outcome.chunks} chunks)"
    if outcome.aliased:
        return f"{outcome.status:9} {outcome.article_id}  {counts}  {where}  (a copy of it: kept as an alias)"
    return f"{outcome.status:9} {outcome.article_id}  {counts}  {where}"


def _follow(feeds: FeedService | RemoteFeeds, url: str, problems: list[tuple[Path | str, str]]) -> bool:
    """Follow and poll one feed, printing a line per entry; False when the feed itself failed."""
    try:
        run: FeedRun = feeds.follow(url)
    except ArticleError as exc:
        problems.append((url, str(exc)))
        return False
    for entry in run.entries:
        if entry.article is not None:
            print(_ingested_line(entry.article, entry.url))
        elif entry.status == "failed":
            problems.append((entry.url, entry.error or "failed"))
        else:
            print(f"{entry.status:9} {entry.url}")
    counts = ", ".join(f"{n} {status}" for status in ("new", "updated", "unchanged", "seen", "failed", "deferred")
                       if (n := run.count(status)))
    print(f"feed {run.feed.title or url}: {counts or 'no entries'}", file=sys.stderr)
    return True


def _feeds(args, settings: Settings, make_container: ContainerFactory) -> int:
    infos = make_container(settings).feeds.list_feeds()
    if args.json:
        print(json.dumps([asdict(f) for f in infos], indent=2, ensure_ascii=False))
        return 0
    if not infos:
        print("no feeds followed: follow one with `articlechat ingest --feed URL`")
    for f in infos:
        error = f"\terror: {f.last_error}" if f.last_error else ""
        print(f"{f.id}\t{f.title or '-'}\t{f.url}\tpolled {f.last_polled_at or 'never'}\t{f.articles} articles{error}")
    return 0


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def _ask(args, settings: Settings, make_container: ContainerFactory) -> int:
    from server.services.answering import UnknownArticles

    question = args.question.strip()
    if problem := question_error(question):
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    container = make_container(settings)
    container.articles.seed_sample()  # a first `ask` finds the bundled sample, as the server's first start does
    try:
        answer = container.answers.ask(question, (), args.article_ids, args.top_k, min_confidence=args.min_confidence)
    except UnknownArticles as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(answer), indent=2, ensure_ascii=False))
        return 0
    print(textwrap.fill(answer.answer, width=100))
    print(f"(confidence {answer.confidence:.2f}: the chance that this {'answer' if answer.answered else 'refusal'} "
          "is right)")
    if answer.verified:
        print(f"(LLM answer: {answer.verified.supported} of its {answer.verified.sentences} sentences supported by "
              "their passages; only those are shown)")
    if answer.citations:
        print("\nClosest passages (not support):" if not answer.answered else "\nSources:")
        for c in answer.citations:
            where = f"{c.article_title}" + (f" — {c.section}" if c.section else "")
            print(f"[{c.n}] {where}  (chars {c.start}-{c.end}, score {c.score:.2f})")
    for warning in answer.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _articles(args, settings: Settings, make_container: ContainerFactory) -> int:
    articles = make_container(settings).articles
    articles.seed_sample()  # as a first `ask` does
    infos = articles.list_articles()
    if args.json:
        print(json.dumps([asdict(a) for a in infos], indent=2, ensure_ascii=False))
        return 0
    if not infos:
        print("no articles indexed: add some with `articlechat ingest PATH`")
    for a in infos:
        print(f"{a.id}\t{a.title}\t{a.sections} sections\t{a.chunks} chunks\t{a.ingested_at}")
    return 0


def _delete(args, settings: Settings, make_container: ContainerFactory) -> int:
    try:
        _writer(settings, make_container).delete(args.article_id)
    except ArticleNotFound as exc:
        print(f"error: {exc} (see `articlechat articles`)", file=sys.stderr)
        return 1
    except ArticleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {args.article_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
