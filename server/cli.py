"""The `articlechat` command: serve, ingest, ask, articles, delete. It calls the same services as the
HTTP API (ArticleService, AnswerService), built by the same container."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from server import logs
from server.limits import MAX_TOP_K, MIN_TOP_K, question_error
from server.running import RemoteArticles, announced, find_server
from server.services.articles import (
    ArticleError,
    ArticleInput,
    ArticleNotFound,
    ArticleService,
    Outcome,
    format_of_file,
)

if TYPE_CHECKING:
    from server.container import Container
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

    ingest = sub.add_parser("ingest", help="index article files (.txt, .md, .html) and directories")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--id", dest="article_id", help="article id (only with a single file)")
    ingest.add_argument("--title", help="article title (only with a single file)")
    ingest.set_defaults(run=_ingest)

    ask = sub.add_parser("ask", help="ask a question from the command line")
    ask.add_argument("question")
    ask.add_argument(
        "--article", action="append", dest="article_ids", metavar="ID", help="search only this article (repeatable)"
    )
    ask.add_argument("--top-k", type=int, choices=range(MIN_TOP_K, MAX_TOP_K + 1), metavar=f"{MIN_TOP_K}-{MAX_TOP_K}")
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

    files, problems = collect_files(args.paths)
    if (args.article_id or args.title) and len(files) != 1:
        print("error: --id and --title need exactly one file", file=sys.stderr)
        return EXIT_USAGE
    articles = _writer(settings, make_container)
    sent: list[Path] = []  # the files given to add_many, by index
    seen_ids: dict[str, Path] = {}

    with tqdm(total=len(files), unit="article", disable=None, file=sys.stderr) as bar:

        def items() -> Iterator[ArticleInput]:
            """Read lazily: only a group of articles is held in memory at a time."""
            for path in files:
                try:
                    format_of_file(path.name)  # reported before the file is read
                    data = path.read_bytes()
                except (ArticleError, OSError) as exc:
                    problems.append((path, str(exc)))
                    bar.update(1)
                    continue
                sent.append(path)
                yield ArticleInput(data, path.name, None, args.article_id, args.title, str(path))

        def done(index: int, outcome: Outcome) -> None:
            path = sent[index]
            bar.update(1)
            if isinstance(outcome, ArticleError):
                problems.append((path, str(outcome)))
                return
            if outcome.article_id in seen_ids:
                problems.append((path, f"same article id {outcome.article_id!r} as {seen_ids[outcome.article_id]}, "
                                       "which it replaced: ingest it alone with --id"))
            seen_ids[outcome.article_id] = path
            counts = f"({outcome.sections} sections, {outcome.chunks} chunks)"
            bar.write(f"{outcome.status:9} {outcome.article_id}  {counts}  {path}", file=sys.stdout)

        articles.add_many(items(), done)
    for path, reason in problems:
        print(f"error: {path}: {reason}", file=sys.stderr)
    print(f"{len(seen_ids)} article(s) indexed, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _ask(args, settings: Settings, make_container: ContainerFactory) -> int:
    from server.services.answering import UnknownArticles

    question = args.question.strip()
    if problem := question_error(question):
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    container = make_container(settings)
    container.articles.seed_sample()  # a first `ask` finds the bundled sample, as the server's first start does
    try:
        answer = container.answers.ask(question, (), args.article_ids, args.top_k)
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
