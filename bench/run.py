"""`make bench`: how fast echofeed is at newsroom scale, as ratios measured in one run.

    python bench/run.py            # the full benchmark; writes bench/results.md and scaling.png
    python bench/run.py --quick    # a tiny newsroom, seconds; what the tests run
    python bench/run.py --serve-url http://127.0.0.1:8080/   # load-test a running server too

Every refresh runs in a child process of its own, so its peak RSS is its own
and its start-up can be timed. Stage times come from wrapping pipeline
functions by name (STAGES below): when a name disappears the benchmark stops
and says which one, rather than reporting a silent zero.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import resource
import shutil
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# What only the parent (generating, serving, load-testing, reporting) uses is
# imported where it is used. A pass runs in a child started from this script,
# and the fork server of echofeed's parser processes imports the main script
# again: this one's imports were 76 ms there (and in each child), harness that
# `echofeed refresh`, whose main script is the light CLI, never pays.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HERE = Path(__file__).resolve().parent
FETCH_WORKERS = 8
PEER_ROUNDS = 5  # of the reader comparison, each from nothing (3 left the 50-feed ratio to chance)
REPEATS = 3  # of the cheap passes (no change, 1% changed); the median is reported

# (label, (N seeds, M feeds, K entries per feed))
FULL_SIZES = [
    ("tiny", (100, 10, 20)),
    ("1k", (1_000, 50, 50)),
    ("10k", (10_000, 200, 50)),
]
QUICK_SIZES = [("quick", (20, 3, 5))]

# Where a refresh spends its time: (module, attribute, stage). Nested calls
# count once, in the innermost stage (times are exclusive). "a|b" wraps each of
# the names that exists and needs at least one (the dedup rework renamed these);
# a trailing "?" marks a step only some versions have.
STAGES = [
    ("echofeed.pipeline", "resort_if_rules_changed", "other"),
    ("echofeed.pipeline", "rekey_if_rules_changed?", "dedup"),
    ("echofeed.pipeline", "ingest_seeds", "read seeds"),
    ("echofeed.pipeline", "parse_seed", "read seeds"),
    ("echofeed.pipeline", "ingest_sources", "fetch"),  # main thread: waiting for the pool
    ("echofeed.fetch", "Fetcher.fetch", "fetch"),
    ("echofeed.pipeline", "parse_feed", "parse"),
    # Many sources are parsed in worker processes: this thread's CPU time while it
    # waits for one is nil, so their parse time shows as the wait (fetch).
    ("echofeed.pipeline", "_Parsers.parse?", "parse"),
    ("echofeed.parse", "sanitize_html", "normalize"),
    ("echofeed.parse", "html_to_text", "normalize"),
    ("echofeed.topics", "Sorter.section_of", "normalize"),
    ("echofeed.topics", "Sorter.topics_of", "normalize"),
    ("echofeed.pipeline", "headline_key|find_story_of_record", "dedup"),
    ("echofeed.dedup", "normalize?", "dedup"),
    ("echofeed.store", "Store.find_record", "dedup"),
    ("echofeed.pipeline", "ingest_entry", "store"),
    ("echofeed.pipeline", "_store_source", "store"),
    ("echofeed.store", "Store.__init__", "store"),
    ("echofeed.store", "Store.get_entry", "store"),
    ("echofeed.store", "Store.put_entry", "store"),
    ("echofeed.store", "Store.touch", "store"),
    ("echofeed.store", "Store.atom_id_of", "store"),
    ("echofeed.store", "Store.set_updated", "store"),
    ("echofeed.store", "Store.make_duplicate", "store"),
    ("echofeed.store", "Store.put_seed_file", "store"),
    ("echofeed.store", "Store.seed_file_states", "store"),
    ("echofeed.store", "Store.put_source_state", "store"),
    ("echofeed.store", "Store.source_state", "store"),
    ("echofeed.store", "Store.withdraw_seeds_except", "store"),
    ("echofeed.store", "Store.forget_seed_files_except", "store"),
    ("echofeed.pipeline", "prune_expired?", "store"),
    ("echofeed.pipeline", "publish_all", "publish"),
    ("echofeed.pipeline", "_Splicer.splice", "publish"),  # archived edits, in threads
    ("echofeed.pipeline", "_Entries.head", "publish"),
    ("echofeed.store", "Store.feed_timelines", "publish"),
    ("echofeed.store", "Store.stories_by_keys", "publish"),
    ("echofeed.store", "Store.archive_stories", "publish"),
    ("echofeed.store", "Store.story_stamps", "publish"),
    ("echofeed.store", "Store.sections", "publish"),
]
# The top-level steps of a refresh, for the memory table.
PEAK_STEPS = [
    "store.Store.__init__", "pipeline.resort_if_rules_changed", "pipeline.ingest_seeds",
    "pipeline.ingest_sources", "pipeline.publish_all",
]  # fmt: skip
STAGE_ORDER = ["read seeds", "fetch", "parse", "normalize", "dedup", "store", "publish", "other"]
# A full refresh of a newsroom with seeds and feeds must go through each of these.
MUST_BE_CALLED = [
    "pipeline.ingest_seeds", "pipeline.parse_seed", "fetch.Fetcher.fetch",
    "pipeline.parse_feed|pipeline._Parsers.parse",
    "pipeline.ingest_entry", "store.Store.find_record", "pipeline.publish_all",
]  # fmt: skip


class BenchError(Exception):
    """The benchmark cannot measure what it claims to (a name moved, a child failed)."""


# -- timing the stages of one refresh -------------------------------------------


class StageClock:
    """Exclusive time per stage and per function: wall time on the main thread, CPU time
    in worker threads.

    Worker threads' wall time is no measure of their work: 8 threads share one
    GIL, and a call that releases it (nh3, socket reads) then waits up to the
    5 ms switch interval to get it back, so short calls look many times
    slower than they are. Their CPU time is what each stage really costs.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.seconds: dict[tuple[str, bool], float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.by_name: Counter[str] = Counter()
        # How much each top-level step of the pass raised the process's peak RSS.
        self.peak_growth_mb: Counter[str] = Counter()

    def wrap(self, fn: Callable[..., Any], stage: str, name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            main = threading.current_thread() is threading.main_thread()
            clock = time.perf_counter if main else time.thread_time
            stack = self._local.__dict__.setdefault("stack", [])
            top_level = main and not stack
            peak_before = peak_rss_mb() if top_level else 0.0
            stack.append(0.0)
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = clock() - start
                if top_level:
                    self.peak_growth_mb[name] += peak_rss_mb() - peak_before
                nested = stack.pop()
                if stack:
                    stack[-1] += elapsed
                with self._lock:
                    self.seconds[(stage, main)] += elapsed - nested
                    self.by_name[name] += elapsed - nested
                    self.calls[name] += 1

        return timed

    def install(self) -> None:
        """Wrap every STAGES function; raise BenchError naming any that is gone."""
        import importlib

        for module_name, attributes, stage in STAGES:
            module = importlib.import_module(module_name)
            optional = attributes.endswith("?")
            wrapped = 0
            for attribute in attributes.rstrip("?").split("|"):
                owner: Any = module
                *parents, leaf = attribute.split(".")
                for part in parents:
                    owner = getattr(owner, part, None)
                if owner is None or not callable(getattr(owner, leaf, None)):
                    continue
                name = f"{module_name.removeprefix('echofeed.')}.{attribute}"
                setattr(owner, leaf, self.wrap(getattr(owner, leaf), stage, name))
                wrapped += 1
            if not wrapped and not optional:
                raise BenchError(
                    f"{module_name}.{attributes} is gone: the benchmark times it as the "
                    f"{stage!r} stage; update STAGES in bench/run.py"
                )
        self._wrap_commits()

    def _wrap_commits(self) -> None:
        # The commit happens when a transaction's block ends: that is store time.
        from echofeed.store import Store

        original = Store.transaction
        clock = self

        @contextlib.contextmanager
        def transaction(store: Store) -> Iterator[None]:
            manager = original(store)
            manager.__enter__()
            try:
                yield
            except BaseException:
                if not clock.wrap(manager.__exit__, "store", "store.commit")(*sys.exc_info()):
                    raise
            else:
                clock.wrap(manager.__exit__, "store", "store.commit")(None, None, None)

        Store.transaction = transaction  # type: ignore[method-assign]

    def split(self, total: float) -> dict[str, float]:
        """Seconds per stage adding up to `total`.

        The main thread's wait for the fetch/parse pool is shared out by the
        workers' CPU time per stage; what the workers' CPU time does not cover
        was spent waiting on the network, and counts as fetch.
        """
        main = {stage: s for (stage, is_main), s in self.seconds.items() if is_main}
        workers = {stage: s for (stage, is_main), s in self.seconds.items() if not is_main}
        pool_wait = main.pop("fetch", 0.0)
        split = dict.fromkeys(STAGE_ORDER, 0.0)
        for stage, seconds in main.items():
            split[stage] += seconds
        worker_cpu = sum(workers.values())
        scale = min(1.0, pool_wait / worker_cpu) if worker_cpu else 0.0
        for stage, seconds in workers.items():
            split[stage] += seconds * scale
        split["fetch"] += max(0.0, pool_wait - worker_cpu * scale)
        split["other"] += max(0.0, total - sum(split.values()))
        return split


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    On Linux, VmHWM: ru_maxrss survives exec, so a child started from a big
    parent would report the parent's size at fork as its own peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- child processes -----------------------------------------------------------


def child_refresh(config_path: Path, timed: bool, check_calls: bool) -> dict[str, Any]:
    from echofeed import pipeline
    from echofeed.cli import freeze_imported
    from echofeed.config import load_config
    from echofeed.pipeline import refresh

    clock = StageClock()
    if timed:
        clock.install()
    # Publishing's share, even untimed: reader only ingests, so the peer table
    # compares it with echofeed's pass without its publishing.
    publishing = {"seconds": 0.0}
    publish_all = pipeline.publish_all

    def timed_publish(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return publish_all(*args, **kwargs)
        finally:
            publishing["seconds"] += time.perf_counter() - started

    pipeline.publish_all = timed_publish
    config = load_config(config_path)
    freeze_imported()  # as `echofeed refresh` does before its pass
    rss_before = peak_rss_mb()  # Python, echofeed and its libraries imported
    started = time.perf_counter()
    report = refresh(config)
    seconds = time.perf_counter() - started
    if check_calls:
        missing = [
            name for name in MUST_BE_CALLED if not any(clock.calls[n] for n in name.split("|"))
        ]
        if missing:
            raise BenchError(
                f"never called during a full refresh: {', '.join(missing)}; the pipeline no "
                "longer goes through these names, update STAGES in bench/run.py"
            )
    problems = [str(e) for e in report.errors]
    if report.outage:
        problems.insert(0, report.outage)
    published = report.published
    return {
        "seconds": seconds,
        "publish_seconds": publishing["seconds"],
        "stages": clock.split(seconds) if timed else {},
        "calls": dict(clock.calls),
        "functions": dict(clock.by_name),
        "peak_growth_mb": dict(clock.peak_growth_mb),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "counts": dict(report.counts),
        "seeds_read": report.seeds_read,
        "seeds_unchanged": report.seeds_unchanged,
        "sources": Counter(s.status for s in report.sources),
        "feeds_written": len(published.written) if published else 0,
        "feeds_unchanged": len(published.unchanged) if published else 0,
        "problems": problems[:5],
        "problem_count": len(problems),
    }


def child_reader(db_path: Path, urls: list[str], workers: int) -> dict[str, Any]:
    from reader import make_reader

    started = time.perf_counter()
    reader = make_reader(str(db_path))
    try:
        for url in urls:
            reader.add_feed(url, exist_ok=True)
        # scheduled=False: fetch every feed now, as `echofeed refresh` does.
        reader.update_feeds(scheduled=False, workers=workers)
        entries = reader.get_entry_counts().total
        broken = sum(1 for feed in reader.get_feeds() if feed.last_exception)
    finally:
        reader.close()
    return {
        "seconds": time.perf_counter() - started,
        "entries": entries,
        "broken_feeds": broken,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_ingest(workdir: Path) -> dict[str, Any]:
    """Bare feedparser.parse vs echofeed's ingest (parse, normalize, dedup, store) of the
    same bytes, one thread each, no network."""
    import feedparser

    from echofeed.config import load_config
    from echofeed.pipeline import ingest_entry, parse_feed
    from echofeed.store import Store
    from echofeed.topics import Sorter

    config = load_config(workdir / "config.yaml")
    by_name = {Path(urlsplit(s.url).path).name: s for s in config.sources}
    bodies = [
        (by_name[path.name], path.read_bytes()) for path in sorted((workdir / "feeds").iterdir())
    ]
    size = sum(len(body) for _, body in bodies)
    headers = {"content-type": "application/xml; charset=utf-8"}

    sorter = Sorter.from_config(config)
    now = datetime.now(UTC).replace(microsecond=0)
    seconds: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    clock = time.perf_counter
    # Feed by feed, each way in turn: a change in machine load hits every way alike.
    with Store(workdir / "ingest.db") as store:
        for source, body in bodies:
            started = clock()
            entries["feedparser"] += len(feedparser.parse(body).entries)
            seconds["feedparser"] += clock() - started
            started = clock()
            lean = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
            entries["feedparser_lean"] += len(lean.entries)
            seconds["feedparser_lean"] += clock() - started
            started = clock()
            parsed = parse_feed(body, source, headers=headers, now=now)
            parse_seconds = clock() - started
            with store.transaction():
                for entry in parsed.entries:
                    ingest_entry(store, entry, sorter, config, now)
            store_seconds = clock() - started - parse_seconds
            entries["parse_feed"] += len(parsed.entries)
            seconds["parse_feed"] += parse_seconds
            entries["ingest"] += len(parsed.entries)
            seconds["ingest"] += parse_seconds + store_seconds
    results: dict[str, Any] = {"bytes": size, "feeds": len(bodies)}
    for name in ("feedparser", "feedparser_lean", "parse_feed", "ingest"):
        results[name] = {"seconds": seconds[name], "entries": entries[name]}
    return results


def stored_matcher(store: Any) -> Callable[[str], str | None]:
    """The dedup lookup under test: headline -> key of the stored story it retells.

    Today: echofeed.dedup.headline_key + Store.find_record. When the dedup
    matcher lands, call its API here; the measurement around it stays.
    """
    from echofeed.dedup import headline_key

    def match(headline: str) -> str | None:
        record = store.find_record(headline_key(headline), exclude_key="")
        return record.key if record else None

    return match


def child_dedup(workdir: Path, stored: int, new: int) -> dict[str, Any]:
    try:
        from echofeed.dedup_bench import measure_headline_matching
    except ImportError:
        return _dedup_by_headline_key(workdir, stored, new)
    # The dedup rework ships its own measurement of the real matcher (signature
    # index + decide); it is the one to report once it is there.
    bench = measure_headline_matching(stored, new, workdir)
    return {
        "stored": bench.stored,
        "queries": bench.checked,
        "retold": bench.checked // 2,
        "setup_seconds": None,
        "candidates": bench.candidates,
        "matcher_name": "echofeed.dedup_bench (normalize + signature index + decide)",
        "dict": {"seconds": bench.exact_seconds, "hits": None},
        "matcher": {"seconds": bench.index_seconds, "hits": bench.matched},
    }


def _dedup_by_headline_key(workdir: Path, stored: int, new: int) -> dict[str, Any]:
    import random

    from bench.generate import _headlines, headline_variant
    from echofeed.dedup import headline_key
    from echofeed.model import Entry
    from echofeed.store import Store

    rng = random.Random(5)
    fresh = _headlines(rng)
    headlines = [next(fresh) for _ in range(stored)]
    now = datetime.now(UTC).replace(microsecond=0)
    setup_started = time.perf_counter()
    for stale in workdir.glob("dedup.db*"):
        stale.unlink()
    store = Store(workdir / "dedup.db")
    exact: dict[str, str] = {}
    with store.transaction():
        for i, headline in enumerate(headlines):
            entry = Entry(kind="feed", source="https://wire.example/feed", source_name="Wire",
                          origin_id=f"urn:wire:{i}", headline=headline, section="World",
                          published=now, body_html="<p>Body.</p>")  # fmt: skip
            store.put_entry(entry, atom_id=entry.origin_id, headline_key=headline_key(headline),
                            section="World", published=now, updated=now, seen=now,
                            duplicate_of=None, topics=())  # fmt: skip
            exact[headline] = entry.key
    setup = time.perf_counter() - setup_started
    retold = [headline_variant(h, rng)[0] for h in rng.sample(headlines, new // 2)]
    queries = retold + [next(fresh) for _ in range(new - len(retold))]
    rng.shuffle(queries)

    started = time.perf_counter()
    dict_hits = sum(1 for q in queries if exact.get(q) is not None)
    dict_seconds = time.perf_counter() - started

    match = stored_matcher(store)
    started = time.perf_counter()
    matcher_hits = sum(1 for q in queries if match(q) is not None)
    matcher_seconds = time.perf_counter() - started
    store.close()
    return {
        "stored": stored,
        "queries": len(queries),
        "retold": len(retold),
        "setup_seconds": setup,
        "matcher_name": "`headline_key` + `Store.find_record`",
        "dict": {"seconds": dict_seconds, "hits": dict_hits},
        "matcher": {"seconds": matcher_seconds, "hits": matcher_hits},
    }


def child_echofeed_serve(folder: Path) -> None:
    """`echofeed serve` itself (waitress and our WSGI app) over the output folder."""
    import logging

    from echofeed.serve import make_server, server_url

    # 8 clients against 8 threads queue a request now and then; waitress logs each.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = make_server(folder, "127.0.0.1", 0)
    print(server_url(server), flush=True)
    server.run()


def child_static_serve(folder: Path) -> None:
    """The baseline: the stdlib's file server over the same output folder."""
    from http.server import SimpleHTTPRequestHandler

    from bench.generate import BenchHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    _announce(BenchHTTPServer(("127.0.0.1", 0), handler))


def child_feed_serve(folder: Path) -> None:
    from bench.generate import make_feed_server

    _announce(make_feed_server(folder))


def _announce(server: Any) -> None:
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}/", flush=True)
    server.serve_forever()


def run_child(*args: str, timeout: float = 900) -> tuple[dict[str, Any], float]:
    """Run `run.py --child ...` and return (its JSON result, its wall time with start-up)."""
    import subprocess

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"child {' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


@contextlib.contextmanager
def server_process(kind: str, folder: Path) -> Iterator[str]:
    """A server in a process of its own (so it does not share our GIL); yields its URL."""
    import subprocess

    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(folder)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            raise BenchError(f"{kind} server did not start (said {line!r})")
        yield line
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- the load client (issue 8) -------------------------------------------------


def load_test(
    base_url: str,
    paths: list[str],
    *,
    clients: int = 8,
    max_requests: int = 2000,
    max_seconds: float = 15.0,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """GET `paths` round-robin from `clients` concurrent keep-alive clients; bounded by
    request count and time. Works against any HTTP server on 127.0.0.1 (or elsewhere)."""
    import http.client

    parts = urlsplit(base_url)
    prefix = parts.path.rstrip("/")
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    issued = iter(range(max_requests))
    deadline = time.perf_counter() + max_seconds

    def client() -> None:
        connection: http.client.HTTPConnection | None = None
        while time.perf_counter() < deadline:
            with lock:
                n = next(issued, None)
            if n is None:
                break
            path = f"{prefix}/{paths[n % len(paths)]}"
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(
                        parts.hostname, parts.port or 80, timeout=timeout
                    )
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors[type(e).__name__] += 1
                if connection is not None:
                    connection.close()
                connection = None
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1
        if connection is not None:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + timeout + 5)
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "url": base_url,
        "clients": clients,
        "requests": len(latencies),
        "seconds": wall,
        "per_second": len(latencies) / wall if wall else 0.0,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
    }


@contextlib.contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 (threaded) for load_test; yields its base URL."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 128

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _percentile(sorted_values: list[float], percent: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, math.ceil(percent / 100 * len(sorted_values)) - 1)
    return sorted_values[max(0, index)]


def published_paths(output_dir: Path) -> list[str]:
    return sorted(
        p.relative_to(output_dir).as_posix()
        for p in output_dir.rglob("*")
        if p.is_file() and p.suffix in (".atom", ".opml")
    )


# -- one newsroom size ---------------------------------------------------------


def write_config(workdir: Path, name: str, base_url: str, *, seeds: bool, prefix: str) -> Path:
    import yaml

    from bench.generate import TOPICS, feed_urls

    settings = {
        "title": "GlobalEcho",
        "base_url": "http://127.0.0.1:8080/",
        "seeds_dir": "seeds" if seeds else "no-seeds",
        "database": f"{prefix}echofeed.db",
        "output_dir": f"{prefix}out",
        "seed_quiet_seconds": 0,  # the files were just written; nobody is copying them
        # Every generated feed is on 127.0.0.1; a real newsroom's are on many hosts.
        "fetch": {"concurrency": FETCH_WORKERS, "per_host": FETCH_WORKERS},
        "sections": {"US": ["U.S.", "United States"]},
        "topics": {name: {"keywords": words} for name, words in TOPICS.items()},
        "sources": [{"name": n, "url": u} for n, u in feed_urls(base_url, workdir)],
    }
    path = workdir / name
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def measure_size(
    label: str,
    size: tuple[int, int, int],
    work: Path,
    *,
    peer: bool,
    ingest: bool,
    repeats: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from bench.generate import change_inputs, generate_newsroom

    n, m, k = size
    workdir = work / label
    shutil.rmtree(workdir, ignore_errors=True)
    started = time.perf_counter()
    manifest = generate_newsroom(workdir, n, m, k)
    result: dict[str, Any] = {"label": label, "size": size, "manifest": asdict(manifest)}
    result["generate_seconds"] = time.perf_counter() - started
    log(f"[{label}] generated N={n} seeds, M={m} feeds x K={k} in "
        f"{result['generate_seconds']:.1f}s; refreshing")  # fmt: skip
    with server_process("feed-serve", workdir / "feeds") as base_url:
        config = write_config(workdir, "config.yaml", base_url, seeds=True, prefix="")
        full, full_wall = run_child("refresh", str(config), "timed", "check")
        _check_clean(label, "full", full)
        log(f"[{label}] full refresh {full['seconds']:.2f}s, peak {full['peak_rss_mb']:.0f} MB")
        # Repeat passes are cheap, so each is run `repeats` times and the median
        # kept: on a shared machine one sample can be a load spike.
        nochange_runs = []
        for _ in range(repeats):
            nochange_runs.append(run_child("refresh", str(config), "timed", "")[0])
            _check_clean(label, "no-change", nochange_runs[-1])
        changed_runs = []
        for i in range(repeats):
            changed_inputs = change_inputs(workdir, 0.01, rng_seed=99 + i)
            changed_runs.append(run_child("refresh", str(config), "timed", "")[0])
            _check_clean(label, "1% changed", changed_runs[-1])
        nochange, changed = _median_run(nochange_runs), _median_run(changed_runs)
        log(f"[{label}] no-change {nochange['seconds']:.2f}s, 1% changed {changed['seconds']:.2f}s"
            f" (medians of {repeats})")  # fmt: skip
        result.update(full=full, full_wall=full_wall, nochange=nochange, changed=changed,
                      changed_inputs=changed_inputs)  # fmt: skip
        if peer:
            result["peer"] = measure_peer(workdir, base_url, log, label)
    if ingest:
        result["ingest"], _ = run_child("ingest", str(workdir))
        log(f"[{label}] ingest throughput measured")
    result["output_dir"] = str(workdir / "out")
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[len(ordered) // 2], "samples": [r["seconds"] for r in runs]}


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each measure's median over the rounds (the first and repeat passes apart)."""
    import statistics

    return {
        key: statistics.median(r[key] for r in rounds) if key != "entries" else rounds[0][key]
        for key in rounds[0]
    } | {"rounds": len(rounds), "first_walls": [r["first_wall"] for r in rounds],
         "per_round": rounds}  # fmt: skip


def _check_clean(label: str, what: str, refresh: dict[str, Any]) -> None:
    # A benchmark of a pass that failed would measure the failure.
    if refresh["problem_count"]:
        raise BenchError(f"[{label}] {what} refresh reported problems: {refresh['problems']}")


def measure_peer(workdir: Path, base_url: str, log: Callable[[str], None],
                 label: str) -> dict[str, Any]:  # fmt: skip
    """echofeed and reader on the same feeds (no seeds), each a fresh process: start-up counts."""
    from bench.generate import feed_urls

    try:
        import reader  # noqa: F401
    except ImportError:
        log(f"[{label}] reader is not installed (pip install -e '.[bench]'); peer skipped")
        return {}
    peer: dict[str, Any] = {}
    config = write_config(workdir, "config-peer.yaml", base_url, seeds=False, prefix="peer-")
    urls = [url for _, url in feed_urls(base_url, workdir)]
    urls_file = workdir / "peer-urls.json"
    urls_file.write_text(json.dumps(urls), encoding="utf-8")
    db = workdir / "peer-reader.sqlite"
    # Alternating the two, so a change in machine load does not favour either, from
    # nothing each round; the median round (by each one's first pass) is reported.
    echofeed_rounds, reader_rounds = [], []
    for _ in range(PEER_ROUNDS):
        for stale in [*workdir.glob("peer-echofeed.db*"), *workdir.glob("peer-reader.sqlite*")]:
            stale.unlink()
        shutil.rmtree(workdir / "peer-out", ignore_errors=True)
        first, first_wall = run_child("refresh", str(config), "", "")
        rfirst, rfirst_wall = run_child("reader", str(db), str(urls_file))
        again, again_wall = run_child("refresh", str(config), "", "")
        ragain, ragain_wall = run_child("reader", str(db), str(urls_file))
        _check_clean(label, "peer", first)
        if rfirst["broken_feeds"]:
            raise BenchError(f"[{label}] reader could not update {rfirst['broken_feeds']} feeds")
        echofeed_rounds.append({
            "entries": first["counts"]["new"] + first["counts"]["duplicate"],
            "first_wall": first_wall, "again_wall": again_wall,
            "first_publish": first["publish_seconds"], "again_publish": again["publish_seconds"],
            "first_ingest": first_wall - first["publish_seconds"],
            "first_rss_mb": first["peak_rss_mb"],
        })  # fmt: skip
        reader_rounds.append({
            "entries": rfirst["entries"], "first_wall": rfirst_wall,
            "again_wall": ragain_wall, "first_rss_mb": rfirst["peak_rss_mb"],
        })  # fmt: skip
    peer["echofeed"] = _median_round(echofeed_rounds)
    peer["reader"] = _median_round(reader_rounds)
    first_wall, again_wall = peer["echofeed"]["first_wall"], peer["echofeed"]["again_wall"]
    rfirst_wall, ragain_wall = peer["reader"]["first_wall"], peer["reader"]["again_wall"]
    log(f"[{label}] peer: echofeed {first_wall:.1f}s / {again_wall:.2f}s, "
        f"reader {rfirst_wall:.1f}s / {ragain_wall:.2f}s")  # fmt: skip
    return peer


# -- report ----------------------------------------------------------------------


def machine_note() -> dict[str, Any]:
    import platform

    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "load": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_commit(),
    }


def _git_commit() -> str:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=REPO, timeout=10)  # fmt: skip
        return done.stdout.strip() or "?"
    except OSError:
        return "?"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def render_markdown(results: dict[str, Any]) -> str:
    before, after = results["machine_before"], results["machine_after"]
    sizes = results["sizes"]
    quick_flag = " --quick" if results["quick"] else ""
    repeats = results.get("repeats", REPEATS)
    out = [
        "# echofeed benchmark results",
        "",
        f"Run {before['when']} on {before['cores']} cores, Python {before['python']}, "
        f"echofeed commit {before['commit']}; `bench/run.py{quick_flag}`"
        f" took {results['seconds']:.0f}s. Machine load average (1, 5, 15 min) "
        f"{before['load']} before and {after['load']} after: other work was running on the "
        "same cores, so compare the ratios, not the absolute seconds.",
        "",
        "Every refresh is `pipeline.refresh(config)` in a fresh child process on a fresh "
        "folder, with the feeds served by a local HTTP server (own process, ETag/304) on "
        f"127.0.0.1 and {FETCH_WORKERS} fetch workers. echofeed is byte-compiled before the "
        "first child starts, as pip compiles an installed package.",
        "",
        "## 1-3. Refresh time, by stage, and what a repeat costs",
        "",
        "| newsroom (N seeds, M feeds x K) | entries in | full refresh s | peak RSS MB "
        f"| no-change s (median of {repeats}) | no-change / full | 1% changed s (median of "
        f"{repeats}) | 1% changed / full |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in sizes:
        n, m, k = s["size"]
        full, nochange, changed = s["full"], s["nochange"], s["changed"]
        out.append(
            f"| {s['label']}: {n:,}, {m} x {k} | {n + m * k:,} | {full['seconds']:.2f} | "
            f"{full['peak_rss_mb']:.0f} | {nochange['seconds']:.2f} | "
            f"{_pct(nochange['seconds'], full['seconds'])} | {changed['seconds']:.2f} | "
            f"{_pct(changed['seconds'], full['seconds'])} |"
        )
    out += ["", "Where the full refresh goes (seconds, share of the refresh):", ""]
    out.append("| stage | " + " | ".join(s["label"] for s in sizes) + " |")
    out.append("| --- |" + " --- |" * len(sizes))
    for stage in STAGE_ORDER:
        cells = []
        for s in sizes:
            seconds = s["full"]["stages"][stage]
            cells.append(f"{seconds:.2f} ({_pct(seconds, s['full']['seconds'])})")
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    out += [
        "",
        "Stages: *read seeds* = list, stat, read, hash and parse seed files; *fetch* = HTTP; "
        "*parse* = feedparser and echofeed's field mapping; *normalize* = HTML sanitizing and "
        "plain text (nh3), sections and topics; *dedup* = headline key and the stored-record "
        "lookup; *store* = every other Store call, commits and ingest bookkeeping; *publish* = "
        "feed queries, rendering and writing; *other* = what no wrapped function covers. Fetch, "
        "parse and part of normalize run in worker threads: the main thread's wait for them is "
        "shared out by the workers' CPU time per stage, and what their CPU time does not cover "
        "(waiting for the server) counts as fetch.",
    ]
    largest = sizes[-1]
    for key, what in (("full", "full refresh"), ("nochange", "no-change pass"),
                      ("changed", "1%-changed pass")):  # fmt: skip
        run = largest[key]
        top = sorted(run["functions"].items(), key=lambda item: -item[1])[:10]
        out += [
            "",
            f"The costliest wrapped functions of the {what} at {largest['label']} (own time, "
            "without the wrapped functions they call: wall time on the main thread, CPU time "
            "summed over the fetch/parse worker threads):",
            "",
            "| function | seconds | calls | ms per call |",
            "| --- | --- | --- | --- |",
        ]
        for name, seconds in top:
            calls = run["calls"].get(name, 0)
            per_call = f"{1000 * seconds / calls:.3f}" if calls else "-"
            note = " (waiting for the fetch threads)" if name == "pipeline.ingest_sources" else ""
            out.append(f"| `{name}`{note} | {seconds:.2f} | {calls:,} | {per_call} |")
    out += [
        "",
        "What the repeat passes did:",
        "",
        "| newsroom | pass | seconds (every sample) | seeds read / unchanged | sources (status) "
        "| entries | feeds written / unchanged | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in sizes:
        changed_what = ", ".join(f"{v} {k}" for k, v in s["changed_inputs"].items())
        for name, r in (("full", s["full"]), ("no change", s["nochange"]),
                        (f"changed ({changed_what})", s["changed"])):  # fmt: skip
            samples = ", ".join(f"{x:.2f}" for x in r.get("samples", [r["seconds"]]))
            sources = ", ".join(f"{v} {k}" for k, v in sorted(r["sources"].items()))
            counts = ", ".join(f"{v} {k}" for k, v in r["counts"].items() if v)
            out.append(
                f"| {s['label']} | {name} | {samples} | "
                f"{r['seeds_read']} / {r['seeds_unchanged']} | "
                f"{sources} | {counts or '-'} | {r['feeds_written']} / {r['feeds_unchanged']} | "
                f"{r['peak_rss_mb']:.0f} |"
            )
    out += [
        "",
        "Peak memory, and which step of the pass raised it (MB; *imports* is the process "
        "before `refresh()` starts: Python, echofeed and its libraries):",
        "",
        "| newsroom | pass | imports | "
        + " | ".join(f"`{name}`" for name in PEAK_STEPS)
        + " | peak RSS |",
        "| --- | --- | --- |" + " --- |" * len(PEAK_STEPS) + " --- |",
    ]
    for s in sizes:
        for name, r in (("full", s["full"]), ("no change", s["nochange"])):
            if "peak_growth_mb" not in r:
                continue
            growth = [f"+{r['peak_growth_mb'].get(step, 0.0):.0f}" for step in PEAK_STEPS]
            out.append(
                f"| {s['label']} | {name} | {r['rss_before_mb']:.0f} | "
                + " | ".join(growth)
                + f" | {r['peak_rss_mb']:.0f} |"
            )
    by_label = {s["label"]: s for s in sizes}
    if "1k" in by_label and "10k" in by_label:
        small, large = by_label["1k"]["full"], by_label["10k"]["full"]
        out += [
            "",
            f"Memory: peak RSS of the full refresh at 10,000 seeds is "
            f"{_ratio(large['peak_rss_mb'], small['peak_rss_mb'])}x the one at 1,000 "
            f"({large['peak_rss_mb']:.0f} MB vs {small['peak_rss_mb']:.0f} MB) for "
            f"{(10_000 + 200 * 50) / (1_000 + 50 * 50):.1f}x the entries.",
        ]
    for s in sizes:
        if "ingest" not in s:
            continue
        ing = s["ingest"]

        def rate(key: str, ing: dict[str, Any] = ing) -> float:
            return ing[key]["entries"] / ing[key]["seconds"] if ing[key]["seconds"] else 0.0

        out += [
            "",
            f"## 4. Ingest throughput vs bare feedparser ({s['label']}: {ing['feeds']} feeds, "
            f"{ing['bytes'] / 1e6:.1f} MB, one thread, no network)",
            "",
            "| what | entries/s | MB/s | time / bare feedparser |",
            "| --- | --- | --- | --- |",
        ]
        base = ing["feedparser"]["seconds"]
        for key, what in (
            ("feedparser", "bare `feedparser.parse(bytes)` (the floor of feedparser-based code)"),
            ("feedparser_lean", "feedparser, `sanitize_html=False, resolve_relative_uris=False`"),
            ("parse_feed", "echofeed `parse_feed` (lxml fast path, else feedparser; mapping; nh3)"),
            ("ingest", "echofeed ingest: `parse_feed` + `ingest_entry` into SQLite"),
        ):
            out.append(
                f"| {what} | {rate(key):,.0f} | "
                f"{ing['bytes'] / 1e6 / ing[key]['seconds']:.1f} | "
                f"{_ratio(ing[key]['seconds'], base)} |"
            )
        out += [
            "",
            f"echofeed ingests at {_pct(rate('ingest'), rate('feedparser'))} of bare "
            "feedparser's rate. Well-formed RSS and Atom (all of these feeds) are read by "
            "echofeed's lxml fast path, not by feedparser, so its parse is below "
            "feedparser's floor; the rest of the ingest time is echofeed's own.",
        ]
    dedup = results.get("dedup")
    if dedup:
        per_dict = dedup["dict"]["seconds"] / dedup["queries"]
        per_match = dedup["matcher"]["seconds"] / dedup["queries"]
        dict_hits = "-" if dedup["dict"]["hits"] is None else dedup["dict"]["hits"]
        out += [
            "",
            f"## 5. Dedup: {dedup['queries']:,} new headlines against {dedup['stored']:,} stored",
            "",
            f"{dedup['retold']} of the new headlines retell a stored story in one form or "
            "another; the rest are new.",
            "",
            "| lookup | total ms | µs per headline | found | time / dict |",
            "| --- | --- | --- | --- | --- |",
            f"| exact `dict` lookup (baseline) | {dedup['dict']['seconds'] * 1000:.2f} | "
            f"{per_dict * 1e6:.2f} | {dict_hits} | 1 |",
            f"| echofeed: {dedup.get('matcher_name', '`headline_key` + `Store.find_record`')} | "
            f"{dedup['matcher']['seconds'] * 1000:.1f} | {per_match * 1e6:.1f} | "
            f"{dedup['matcher']['hits']} | {_ratio(per_match, per_dict)} |",
        ]
        if dedup.get("setup_seconds") is not None:
            out += [
                "",
                f"(Storing the {dedup['stored']:,} rows with `Store.put_entry` in one "
                f"transaction took {dedup['setup_seconds']:.1f}s.)",
            ]
    peers = [s for s in sizes if s.get("peer")]
    if peers:
        out += [
            "",
            "## 6. Peer: reader vs echofeed on the same feeds (no seeds)",
            "",
            "Each pass is a fresh process, start-up, imports and database open included; "
            f"both fetch with {FETCH_WORKERS} threads. reader's pass only stores; echofeed's "
            "also publishes its feeds, so its pass is shown whole and without its publishing "
            "(*ingest*: the whole pass minus `publish_all`). The second pass has nothing "
            "changed (all 304). Medians of "
            f"{PEER_ROUNDS} rounds, each from an empty database, the two alternating; "
            "after the ingest ratio, in brackets, the lowest and highest of the rounds' own.",
            "",
            "| feeds | entries echofeed / reader | reader first s | echofeed first s "
            "(ingest + publish) | reader entries/s | echofeed ingest entries/s "
            "| ingest: echofeed / reader | echofeed whole pass entries/s | whole pass: "
            "echofeed / reader | reader no-change s | echofeed no-change s "
            "| peak RSS MB echofeed / reader |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in peers:
            e, r = s["peer"]["echofeed"], s["peer"]["reader"]
            n, m, k = s["size"]
            ingest_wall = e["first_ingest"]
            erate, rrate = e["entries"] / e["first_wall"], r["entries"] / r["first_wall"]
            irate = e["entries"] / ingest_wall
            # The ratio of each round (echofeed's then reader's pass) shows how far one
            # round can stray from the median on this machine.
            rounds = list(zip(e.get("per_round", []), r.get("per_round", []), strict=True))
            spread = sorted(rr["first_wall"] / ee["first_ingest"] for ee, rr in rounds)
            spread_text = f" ({spread[0]:.2f}-{spread[-1]:.2f})" if spread else ""
            out.append(
                f"| {m} x {k} | {e['entries']:,} / {r['entries']:,} | {r['first_wall']:.2f} | "
                f"{e['first_wall']:.2f} ({ingest_wall:.2f} + {e['first_publish']:.2f}) | "
                f"{rrate:,.0f} | {irate:,.0f} | **{_ratio(irate, rrate)}x**{spread_text} | "
                f"{erate:,.0f} | "
                f"{_ratio(erate, rrate)}x | {r['again_wall']:.2f} | {e['again_wall']:.2f} | "
                f"{e['first_rss_mb']:.0f} / {r['first_rss_mb']:.0f} |"
            )
    for load in results.get("load", []):
        out += [
            "",
            f"## Serving: load test against {load['what']}",
            "",
            f"{load['clients']} concurrent keep-alive clients on 127.0.0.1 fetching the "
            f"{load['paths']} published files round-robin, bounded to {load['max_requests']:,} "
            f"requests or {load['max_seconds']:.0f}s.",
            "",
            "| server | requests | req/s | p50 ms | p99 ms | statuses | errors |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| {load['what']} | {load['requests']:,} | {load['per_second']:,.0f} | "
            f"{load['p50_ms']:.2f} | {load['p99_ms']:.2f} | {load['statuses']} | "
            f"{load['errors'] or '-'} |",
        ]
    out.append("")
    return "\n".join(out)


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    inputs = [s["size"][0] + s["size"][1] * s["size"][2] for s in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, what in (("full", "full refresh"), ("changed", "1% changed"),
                      ("nochange", "nothing changed")):  # fmt: skip
        left.plot(inputs, [s[key]["seconds"] for s in sizes], marker="o", label=what)
    left.set(xscale="log", yscale="log", xlabel="seeds + feed entries",
             ylabel="refresh seconds", title="Refresh time")  # fmt: skip
    left.legend()
    for key, what in (("full", "full refresh"), ("nochange", "nothing changed")):
        right.plot(inputs, [s[key]["peak_rss_mb"] for s in sizes], marker="o", label=what)
    right.set(xscale="log", xlabel="seeds + feed entries", ylabel="peak RSS (MB)",
              title="Peak memory", ylim=(0, None))  # fmt: skip
    right.legend()
    for axis in (left, right):
        axis.set_xticks(
            inputs, [f"{s['label']}\n{x:,}" for s, x in zip(sizes, inputs, strict=True)]
        )
        axis.grid(alpha=0.3)
    fig.suptitle(f"echofeed at newsroom scale ({results['machine_before']['when']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- main ------------------------------------------------------------------------


def compile_echofeed() -> None:
    """Byte-compile echofeed, as pip does when it installs a wheel.

    The editable install of `make`'s venv leaves compiling to the first import,
    and where PYTHONDONTWRITEBYTECODE is set (as on our build machines) nothing
    is ever written: every child process compiled every echofeed module again,
    about 70 ms of start-up that an installed echofeed (or reader, installed
    from its wheel) never pays, and a tenth of a no-change pass at 50 feeds.
    """
    import compileall

    import echofeed

    for folder in echofeed.__path__:
        compileall.compile_dir(folder, quiet=1)


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    def log(message: str) -> None:
        print(message, flush=True)

    started = time.perf_counter()
    compile_echofeed()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    repeats = 1 if args.quick else REPEATS
    results: dict[str, Any] = {"quick": args.quick, "repeats": repeats,
                               "machine_before": machine_note(), "sizes": []}  # fmt: skip
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    for label, size in sizes:
        peer = not args.no_peer and (args.quick or label in ("1k", "10k"))
        ingest = args.quick or label == "1k"
        results["sizes"].append(
            measure_size(label, size, work, peer=peer, ingest=ingest, repeats=repeats, log=log)
        )
    stored, new = (500, 100) if args.quick else (100_000, 1_000)
    results["dedup"], _ = run_child("dedup", str(work), str(stored), str(new))
    log(f"dedup: {results['dedup']['matcher']['hits']} found in {new} vs {stored} stored")
    output_dir = Path(results["sizes"][-1 if args.quick else 1]["output_dir"])
    paths = published_paths(output_dir)
    bounds = {"clients": 8, "max_requests": 300 if args.quick else 3000,
              "max_seconds": 5.0 if args.quick else 20.0}  # fmt: skip
    results["load"] = []
    with server_process("static-serve", output_dir) as url:
        load = load_test(url, paths, **bounds)
    baseline = "stdlib http.server over the output folder (baseline)"
    results["load"].append({**load, **bounds, "paths": len(paths), "what": baseline})
    with server_process("echofeed-serve", output_dir) as url:
        load = load_test(url, paths, **bounds)
    results["load"].append({**load, **bounds, "paths": len(paths), "what": "`echofeed serve`"})
    if args.serve_url:
        load = load_test(args.serve_url, paths, **bounds)
        results["load"].append({**load, **bounds, "paths": len(paths), "what": args.serve_url})
    log(f"load test: {load['per_second']:.0f} req/s, p99 {load['p99_ms']:.1f} ms")
    results["machine_after"] = machine_note()
    results["seconds"] = time.perf_counter() - started
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str), "utf-8")
    (out / "results.md").write_text(render_markdown(results), encoding="utf-8")
    if plot(results, out / "scaling.png"):
        log(f"wrote {out / 'results.md'} and {out / 'scaling.png'}")
    else:
        log(f"wrote {out / 'results.md'} (matplotlib not installed: no plot)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny newsroom, in seconds")
    parser.add_argument("--out", default=str(HERE), help="where results.md/png go")
    parser.add_argument("--work", default=str(HERE / "work"), help="scratch folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--serve-url", help="also load-test this running server")
    parser.add_argument("--no-peer", action="store_true", help="skip the reader comparison")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite results.md/png from results.json"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_as_child(args.child)
    if args.render:
        out = Path(args.out).resolve()
        results = json.loads((out / "results.json").read_text("utf-8"))
        (out / "results.md").write_text(render_markdown(results), encoding="utf-8")
        plot(results, out / "scaling.png")
        return 0
    try:
        run_bench(args)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    return 0


def run_as_child(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "refresh":
        result = child_refresh(
            Path(rest[0]), timed=rest[1] == "timed", check_calls=rest[2] == "check"
        )
    elif kind == "reader":
        urls = json.loads(Path(rest[1]).read_text("utf-8"))
        result = child_reader(Path(rest[0]), urls, FETCH_WORKERS)
    elif kind == "ingest":
        result = child_ingest(Path(rest[0]))
    elif kind == "dedup":
        result = child_dedup(Path(rest[0]), int(rest[1]), int(rest[2]))
    elif kind == "static-serve":
        child_static_serve(Path(rest[0]))
        return 0
    elif kind == "echofeed-serve":
        child_echofeed_serve(Path(rest[0]))
        return 0
    elif kind == "feed-serve":
        child_feed_serve(Path(rest[0]))
        return 0
    else:
        raise SystemExit(f"unknown child {kind!r}")
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
