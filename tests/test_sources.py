"""External sources through a whole refresh: politeness, failure state in the
database, backoff and recovery, outages, hostile feeds, and `echofeed status`."""

from __future__ import annotations

import concurrent.futures.process
import email.utils
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug import Request, Response

from echofeed import pipeline
from echofeed.cli import cli
from echofeed.config import load_config
from echofeed.fetch import Fetcher
from echofeed.pipeline import refresh
from echofeed.prepare import PARSER_NICENESS
from echofeed.store import Store

from .conftest import DATA
from .feedcheck import entries, validate_output
from .rawserver import counting, drip_body, raw_server

RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
ATOM = (DATA / "feeds" / "atom10.xml").read_bytes()
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FAST = {"connect_timeout": 2, "read_timeout": 2, "deadline": 5}


def config_for(newsroom, *urls: str, **overrides):
    sources = [{"name": f"Source {i}", "url": url} for i, url in enumerate(urls)]
    return load_config(newsroom(sources=sources, fetch={**FAST, **overrides.pop("fetch", {})},
                                **overrides))  # fmt: skip


def state_of(config, url: str):
    with Store(config.database) as store:
        return store.source_state(url)


def published_titles(tmp_path: Path) -> list[str]:
    return [e["title"] for e in entries(tmp_path / "feeds" / "all.atom")]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"


@pytest.fixture
def count_parses(monkeypatch):
    calls: list[str] = []
    real = pipeline.parse_feed

    def counting(body, source, **kwargs):
        calls.append(source.url)
        return real(body, source, **kwargs)

    monkeypatch.setattr(pipeline, "parse_feed", counting)
    return calls


def test_etag_304_costs_no_parse_and_keeps_the_validator(newsroom, httpserver, count_parses):
    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(RSS, headers={"ETag": '"v1"'}, content_type="application/rss+xml")

    httpserver.expect_request("/feed").respond_with_handler(handler)
    url = httpserver.url_for("/feed")
    config = config_for(newsroom, url)
    assert refresh(config, now=T0).counts["new"] == 3 and len(count_parses) == 1
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert [s.status for s in report.sources] == ["not modified"]
    assert len(count_parses) == 1  # the 304 was not parsed
    state = state_of(config, url)
    assert state.etag == '"v1"' and state.last_success == T0 + timedelta(hours=1)


def test_sources_with_nothing_new_each_get_their_own_state(newsroom, httpserver):
    # Their states are written together at the end of the sources: each must still
    # be its own (validators, fetch time, next due), beside a source that changed.
    bodies = {"a": RSS, "b": ATOM, "c": RSS.replace(b"<rss", b"<rss data-c='1'", 1)}

    def serve(name: str):  # noqa: ANN202
        def handler(request: Request) -> Response:
            etag = f'"{name}{len(bodies[name])}"'
            if request.headers.get("If-None-Match") == etag:
                return Response(status=304)
            return Response(bodies[name], headers={"ETag": etag},
                            content_type="application/xml")  # fmt: skip

        return handler

    for name in bodies:
        httpserver.expect_request(f"/{name}").respond_with_handler(serve(name))
    urls = [httpserver.url_for(f"/{name}") for name in bodies]
    config = config_for(newsroom, *urls)
    refresh(config, now=T0)
    bodies["b"] = ATOM.replace(b"</feed>", b"<!-- edited --></feed>")
    later = T0 + timedelta(hours=2)
    report = refresh(config, now=later)
    assert [s.status for s in report.sources] == ["not modified", "ok", "not modified"]
    for url, name in zip(urls, bodies, strict=True):
        state = state_of(config, url)
        assert state.etag == f'"{name}{len(bodies[name])}"'
        assert state.last_fetch == state.last_success == later
        assert state.next_due == later + timedelta(seconds=config.refresh_interval)
        assert state.name == f"Source {urls.index(url)}"


def test_last_modified_is_stored_and_sent(newsroom, httpserver, count_parses):
    stamp = "Tue, 24 Nov 2026 10:00:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return Response(RSS, headers={"Last-Modified": stamp})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    config = config_for(newsroom, httpserver.url_for("/feed"))
    refresh(config, now=T0)
    assert state_of(config, httpserver.url_for("/feed")).last_modified == stamp
    assert refresh(config, now=T0 + timedelta(hours=1)).sources[0].status == "not modified"
    assert len(count_parses) == 1


def test_same_body_without_validators_is_not_parsed_again(newsroom, httpserver, count_parses):
    httpserver.expect_request("/feed").respond_with_data(RSS)
    config = config_for(newsroom, httpserver.url_for("/feed"))
    refresh(config, now=T0)
    assert refresh(config, now=T0 + timedelta(hours=1)).sources[0].status == "unchanged"
    assert len(count_parses) == 1


@pytest.mark.parametrize(("code", "moves"), [(301, True), (308, True), (302, False)])
def test_permanent_redirect_updates_the_stored_url(newsroom, httpserver, code, moves):
    old, new = httpserver.url_for("/old.xml"), httpserver.url_for("/new.xml")
    httpserver.expect_request("/old.xml").respond_with_data("", code, {"Location": "/new.xml"})
    httpserver.expect_request("/new.xml").respond_with_data(RSS)
    config = config_for(newsroom, old)
    report = refresh(config, now=T0)
    assert report.counts["new"] == 3
    assert state_of(config, old).current_url == (new if moves else old)
    assert any("moved permanently" in w for w in report.warnings) == moves
    httpserver.clear_log()
    refresh(config, now=T0 + timedelta(hours=1))
    asked = [request.path for request, _ in httpserver.log]
    assert asked == (["/new.xml"] if moves else ["/old.xml", "/new.xml"])


def test_410_stops_polling_says_so_and_force_retries(newsroom, httpserver, tmp_path):
    httpserver.expect_ordered_request("/feed").respond_with_data(RSS)
    httpserver.expect_ordered_request("/feed").respond_with_data("gone", 410)
    httpserver.expect_ordered_request("/feed").respond_with_data(RSS)
    url = httpserver.url_for("/feed")
    config = config_for(newsroom, url)
    refresh(config, now=T0)
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert report.sources[0].status == "gone"
    assert "410 Gone" in str(report.sources[0].error) and "polling stopped" in report.summary()
    assert len(published_titles(tmp_path)) == 3  # its earlier entries stay published
    later = refresh(config, now=T0 + timedelta(days=30))
    assert later.sources[0].status == "gone" and len(httpserver.log) == 2  # not asked again
    assert "refresh --force" in later.summary()
    status = CliRunner().invoke(cli, ["-c", str(config.path), "status"]).output
    [row] = [line for line in status.splitlines() if line.strip().startswith("Source 0")]
    assert row.split()[2] == "gone" and "never (gone)" in row and "410 Gone" in row
    result = CliRunner().invoke(cli, ["-c", str(config.path), "refresh", "--force"])
    assert result.exit_code == 0, result.output
    assert len(httpserver.log) == 3
    assert not state_of(config, url).gone and state_of(config, url).failures == 0


@pytest.mark.parametrize(("status", "retry_after"), [(429, "7200"), (503, "http-date")])
def test_retry_after_sets_next_due(newsroom, httpserver, status, retry_after):
    if retry_after == "http-date":  # three hours from the real clock, whenever the test runs
        retry_after = email.utils.formatdate(time.time() + 3 * 3600, usegmt=True)
    httpserver.expect_request("/feed").respond_with_data("", status, {"Retry-After": retry_after})
    config = config_for(newsroom, httpserver.url_for("/feed"))
    report = refresh(config, now=T0)
    assert report.sources[0].status == "failed" and str(status) in report.summary()
    state = state_of(config, httpserver.url_for("/feed"))
    assert state.failures == 1
    wait = 7200 if retry_after == "7200" else 3 * 3600
    # measured from the pass's own time; an HTTP date loses the seconds the test took
    assert T0 + timedelta(seconds=wait - 60) <= state.next_due <= T0 + timedelta(seconds=wait)


def test_backoff_is_exponential_capped_recorded_and_recovers(newsroom, httpserver):
    url = httpserver.url_for("/feed")
    httpserver.expect_request("/feed").respond_with_data("boom", 500)
    config = config_for(newsroom, url, fetch={"backoff_max": 300})
    now, waits = T0, []
    for _ in range(5):
        report = refresh(config, now=now)
        assert "Source 0: HTTP 500" in report.summary()
        state = state_of(config, url)
        waits.append(state.next_due - now)
        skipped = refresh(config, now=now + timedelta(seconds=30))  # still backing off
        assert skipped.sources[0].status == "skipped"
        now = state.next_due  # the next try is due exactly then
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 5, 5)]
    assert state.failures == 5 and state.last_success is None
    assert state.last_error.startswith("Source 0: HTTP 500")
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed").respond_with_data(RSS)
    report = refresh(config, now=now)  # never dropped: it recovers by itself
    assert report.sources[0].status == "ok" and report.counts["new"] == 3
    state = state_of(config, url)
    assert (state.failures, state.last_error, state.last_success) == (0, None, now)


def test_outage_is_reported_once_and_not_counted(newsroom, tmp_path):
    config = config_for(newsroom, closed_port_url(), closed_port_url())
    report = refresh(config, now=T0)
    summary = report.summary()
    assert summary.count("network outage") == 1 and "all 2 sources failed to connect" in summary
    assert summary.count("cannot connect") == 1  # the outage line, not one per source
    for source in config.sources:
        state = state_of(config, source.url)
        assert state.failures == 0 and "cannot connect" in state.last_error
    assert (tmp_path / "feeds" / "all.atom").exists()
    status = CliRunner().invoke(cli, ["-c", str(config.path), "status"]).output
    assert status.count("unreachable (outage)") == 2


def test_one_unreachable_source_among_working_ones_is_its_own_failure(newsroom, httpserver):
    httpserver.expect_request("/feed").respond_with_data(RSS)
    dead = closed_port_url()
    config = config_for(newsroom, httpserver.url_for("/feed"), dead)
    report = refresh(config, now=T0)
    assert report.outage is None
    assert state_of(config, dead).failures == 1
    assert "Source 1: cannot connect" in report.summary()


@pytest.mark.parametrize(("name", "respond", "message"), [
    ("garbage", lambda s: s.respond_with_data(b"\x00\x01garbage\xfe" * 50), "not an RSS, Atom"),
    ("html", lambda s: s.respond_with_data(b"<!DOCTYPE html><html><body>Hi</body></html>",
                                           content_type="text/html"), "is an HTML page"),
    ("500", lambda s: s.respond_with_data("oops", 500), "HTTP 500"),
    ("empty", lambda s: s.respond_with_data(b""), "empty body"),
])  # fmt: skip
def test_a_broken_source_keeps_its_earlier_entries_published(
    newsroom, httpserver, tmp_path, name, respond, message
):
    httpserver.expect_request("/a").respond_with_data(RSS)
    httpserver.expect_request("/b").respond_with_data(ATOM)
    config = config_for(newsroom, httpserver.url_for("/a"), httpserver.url_for("/b"))
    refresh(config, now=T0)
    before = sorted(published_titles(tmp_path))
    httpserver.clear_all_handlers()
    respond(httpserver.expect_request("/a"))
    httpserver.expect_request("/b").respond_with_data(ATOM)
    report = refresh(config, now=T0 + timedelta(hours=1))
    [error] = report.errors
    assert str(error).startswith("Source 0: ") and message in str(error)
    assert sorted(published_titles(tmp_path)) == before
    validate_output(tmp_path / "feeds")


def test_a_slow_source_does_not_hold_up_the_others(newsroom, httpserver, tmp_path):
    httpserver.expect_request("/ok").respond_with_data(ATOM)
    with raw_server({"/drip": drip_body(1.0)}) as base:
        config = config_for(newsroom, base + "/drip", httpserver.url_for("/ok"),
                            fetch={"deadline": 1.5})  # fmt: skip
        report = refresh(config, now=T0)
    assert "Source 0: no complete answer within the 1.5s deadline" in report.summary()
    assert report.counts["new"] == 2
    assert len(published_titles(tmp_path)) == 2


def test_sources_are_stored_as_they_come_so_few_parsed_feeds_wait_in_memory(
    newsroom, httpserver, monkeypatch
):
    for i in range(12):
        httpserver.expect_request(f"/{i}").respond_with_data(RSS)
    urls = [httpserver.url_for(f"/{i}") for i in range(12)]
    config = config_for(newsroom, *urls, fetch={"concurrency": 2})
    lock = threading.Lock()
    parsed, stored, waiting = [], set(), []
    real_fetch_and_parse, real_ingest = pipeline._fetch_and_parse, pipeline.ingest_entry

    def counting_fetch_and_parse(fetcher, item, *args):
        real_fetch_and_parse(fetcher, item, *args)
        with lock:
            if item.parsed is not None:
                parsed.append(item.source.url)
            waiting.append(len(parsed) - len(stored))

    def counting_ingest(store, entry, *args):
        with lock:
            stored.add(entry.source)
        return real_ingest(store, entry, *args)

    monkeypatch.setattr(pipeline, "_fetch_and_parse", counting_fetch_and_parse)
    monkeypatch.setattr(pipeline, "ingest_entry", counting_ingest)
    report = refresh(config, now=T0)
    assert [s.url for s in report.sources] == urls and report.counts["new"] == 3
    assert sorted(parsed) == sorted(urls) and stored == set(urls)
    # Parsed feeds not yet stored: at most twice the fetch concurrency, not all 12.
    assert max(waiting) <= 4


def parse_or_die(job):
    """Runs in a parser process: the source named "Source 3" kills it."""
    if job.source.name == "Source 3":
        os._exit(1)
    return pipeline.parse_in_worker(job)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process priorities here")
def test_parser_processes_run_behind_the_thread_that_stores():
    parsers = pipeline._Parsers(2)
    try:
        niceness = parsers._current().submit(os.nice, 0).result(timeout=60)
    finally:
        parsers.close()
    # Lower than this process's (which keeps its own), as far as the scale goes.
    assert niceness == min(19, os.nice(0) + PARSER_NICENESS)


def test_many_sources_parse_in_processes_and_a_dead_parser_fails_only_its_source(
    newsroom, httpserver, monkeypatch
):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # processes even on a one-core runner
    monkeypatch.setattr(pipeline, "PARSE_IN_THREADS_FIRST", 0)  # every body in a process
    count = pipeline.PARSE_PROCESSES_FROM
    for i in range(count):
        body = RSS.replace(b"<guid", f"<category>feed {i}</category><guid".encode())
        httpserver.expect_request(f"/{i}").respond_with_data(body)
    config = config_for(newsroom, *(httpserver.url_for(f"/{i}") for i in range(count)))
    report = refresh(config, now=T0)
    assert [s.status for s in report.sources] == ["ok"] * count
    assert report.counts == {"new": 3, "updated": 0, "duplicate": 3 * (count - 1), "unchanged": 0}
    # The same pass again with a parser process that dies on one source.
    httpserver.clear_all_handlers()
    for i in range(count):
        httpserver.expect_request(f"/{i}").respond_with_data(ATOM)
    monkeypatch.setattr(pipeline, "parse_in_worker", parse_or_die)
    report = refresh(config, now=T0 + timedelta(hours=2))
    [error] = report.errors
    assert (
        str(error)
        == "Source 3: the parser process died on this feed, twice (tried again next pass)"
    )
    assert [s.status for s in report.sources] == ["ok"] * 3 + ["failed"] + ["ok"] * (count - 4)
    assert report.counts["new"] == 2


@pytest.fixture
def pool_starts(monkeypatch) -> list[str]:
    """A list that each process pool started appends "processes" to (on two cores)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # processes even on a one-core runner
    events: list[str] = []
    real_pool = concurrent.futures.process.ProcessPoolExecutor

    def counted_pool(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        events.append("processes")
        return real_pool(*args, **kwargs)

    # pipeline imports the pool where it starts one (not at import time).
    monkeypatch.setattr(concurrent.futures.process, "ProcessPoolExecutor", counted_pool)
    return events


def test_a_pass_where_one_of_many_feeds_changed_parses_it_without_starting_processes(
    newsroom, httpserver, pool_starts
):
    started = pool_starts
    count = pipeline.PARSE_PROCESSES_FROM
    bodies = {i: RSS.replace(b"<guid", f"<category>feed {i}</category><guid".encode())
              for i in range(count)}  # fmt: skip

    def serve(i: int):  # noqa: ANN202
        def handler(request: Request) -> Response:
            etag = f'"{len(bodies[i])}"'
            if request.headers.get("If-None-Match") == etag:
                return Response(status=304)
            return Response(bodies[i], headers={"ETag": etag}, content_type="application/rss+xml")

        return handler

    for i in range(count):
        httpserver.expect_request(f"/{i}").respond_with_handler(serve(i))
    config = config_for(newsroom, *(httpserver.url_for(f"/{i}") for i in range(count)))
    report = refresh(config, now=T0)
    assert [s.status for s in report.sources] == ["ok"] * count
    assert started  # many bodies: parsed in processes

    started.clear()
    bodies[5] = RSS.replace(b"<item>", b"<item><title>Harbour budget passes</title>"
                            b"<guid>extra-5</guid></item><item>", 1)  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert [s.status for s in report.sources].count("not modified") == count - 1
    assert report.counts["new"] == 1
    assert "Harbour budget passes" in (config.output_dir / "all.atom").read_text("utf-8")
    assert started == []


def test_a_first_pass_of_many_feeds_starts_the_parser_processes_before_a_body_arrives(
    newsroom, httpserver, monkeypatch, pool_starts
):
    # Sources that never sent a body cannot answer 304: that many will need the
    # processes, which start while the first feeds download.
    events = pool_starts
    real_fetch = Fetcher.fetch

    def noted_fetch(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        result = real_fetch(self, *args, **kwargs)
        events.append("body" if result.body else "no body")
        return result

    monkeypatch.setattr(Fetcher, "fetch", noted_fetch)
    count = pipeline.PARSE_PROCESSES_FROM
    for i in range(count):
        httpserver.expect_request(f"/{i}").respond_with_data(
            RSS.replace(b"<guid", f"<category>feed {i}</category><guid".encode()),
            headers={"ETag": f'"{i}"'}, content_type="application/rss+xml",
        )  # fmt: skip
    config = config_for(newsroom, *(httpserver.url_for(f"/{i}") for i in range(count)))
    report = refresh(config, now=T0)
    assert [s.status for s in report.sources] == ["ok"] * count
    assert events.count("processes") == 1 and events.count("body") == count
    # Started in a thread of their own, as the fetches begin: before the third body
    # comes in (until then, bodies were parsed in the fetch threads).
    assert "processes" in events[:3]

    # Now each has sent one: the same sources start none ahead of their bodies.
    events.clear()
    httpserver.clear_all_handlers()
    for i in range(count):
        httpserver.expect_request(f"/{i}").respond_with_data(b"", status=304)
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert [s.status for s in report.sources] == ["not modified"] * count
    assert events == ["no body"] * count


def test_hostile_html_never_reaches_the_output(newsroom, httpserver, tmp_path):
    httpserver.expect_request("/feed").respond_with_data(
        (DATA / "feeds" / "hostile.xml").read_bytes()
    )
    config = config_for(newsroom, httpserver.url_for("/feed"))
    refresh(config, now=T0)
    output = (tmp_path / "feeds" / "all.atom").read_text(encoding="utf-8").lower()
    for bad in ("&lt;script", "alert(", "onclick", "onerror", "&lt;iframe", "javascript:alert"):
        assert bad not in output, bad
    assert "bold title" in output


def test_external_entity_and_billion_laughs_neither_hang_nor_leak(newsroom, httpserver, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711", encoding="utf-8")
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>XXE</title><link>http://x.example/</link>
<description>d</description><item><title>Leak &xxe; here</title>
<link>http://x.example/1</link><description>body &xxe;</description></item></channel></rss>"""
    lols = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    laughs = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol0 "lol">{lols}]>
<rss version="2.0"><channel><title>Laughs</title><link>http://l.example/</link>
<description>d</description><item><title>Laugh &lol9;</title><link>http://l.example/1</link>
<description>&lol9;</description></item></channel></rss>"""
    httpserver.expect_request("/xxe").respond_with_data(xxe, content_type="application/rss+xml")
    httpserver.expect_request("/lol").respond_with_data(laughs, content_type="application/rss+xml")
    config = config_for(newsroom, httpserver.url_for("/xxe"), httpserver.url_for("/lol"))
    report = refresh(config, now=T0)
    output = b"".join(p.read_bytes() for p in (tmp_path / "feeds").rglob("*") if p.is_file())
    assert b"TOP-SECRET-4711" not in output
    assert b"lollollollol" not in output
    with Store(config.database) as store:
        stored = str(list(store.db.query("select headline, body_html from stories")))
    assert "TOP-SECRET-4711" not in stored and "lollollollol" not in stored
    assert report.published is not None


def test_status_shows_each_source_as_a_table(newsroom, httpserver):
    httpserver.expect_request("/ok").respond_with_data(RSS)
    httpserver.expect_request("/bad").respond_with_data("boom", 500)
    config = config_for(newsroom, httpserver.url_for("/ok"), httpserver.url_for("/bad"))
    refresh(config, now=T0)
    result = CliRunner().invoke(cli, ["-c", str(config.path), "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "last fetch" in line)
    for column in ("name", "state", "last fetch", "last success", "failures", "next due",
                   "last error"):  # fmt: skip
        assert column in header
    ok = next(line for line in lines if line.strip().startswith("Source 0"))
    bad = next(line for line in lines if line.strip().startswith("Source 1"))
    assert "ok" in ok and ok.count("2026-11-25 12:00:00Z") == 2
    assert "failing" in bad and " 1 " in bad and "2026-11-25 12:01:00Z" in bad
    assert "HTTP 500" in bad


@pytest.mark.parametrize(("per_host", "concurrency", "peak"), [(2, 8, 2), (8, 3, 3)])
def test_requests_at_once_are_bounded_per_host_and_overall(newsroom, per_host, concurrency, peak):
    lock, active, seen = threading.Lock(), [0], [0]
    route = counting(active, seen, lock, hold=0.3)
    with raw_server({f"/feed{i}": route for i in range(6)}) as base:
        config = config_for(newsroom, *(f"{base}/feed{i}" for i in range(6)),
                            fetch={"per_host": per_host, "concurrency": concurrency})  # fmt: skip
        report = refresh(config, now=T0)
    assert [s.status for s in report.sources] == ["ok"] * 6
    assert seen[0] == peak
