"""The HTTP client alone, against servers on 127.0.0.1 that play each case of the real web."""

from __future__ import annotations

import email.utils
import gzip
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from werkzeug import Request, Response

from echofeed import fetch as fetch_module
from echofeed.config import FetchConfig
from echofeed.errors import FetchError
from echofeed.fetch import Fetcher, Validators, parse_retry_after

from .conftest import DATA
from .rawserver import (
    counting,
    drip_body,
    drip_headers,
    endless_body,
    fixed,
    gzip_bomb,
    raw_server,
)

RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
FAST = FetchConfig(connect_timeout=2, read_timeout=2, deadline=3, max_bytes=1 << 20)


def fetcher(**overrides: float) -> Fetcher:
    settings = replace(FAST, **overrides)
    return Fetcher(settings, contact_url="http://127.0.0.1:8080/")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_sends_a_descriptive_user_agent_and_accepts_gzip(httpserver):
    seen: dict[str, str] = {}

    def handler(request: Request) -> Response:
        seen.update(request.headers)
        return Response(gzip.compress(RSS), headers={"Content-Encoding": "gzip"},
                        content_type="application/rss+xml")  # fmt: skip

    httpserver.expect_request("/feed").respond_with_handler(handler)
    result = fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert result.body == RSS  # decompressed
    assert seen["User-Agent"].startswith("echofeed/")
    assert "+http://127.0.0.1:8080/" in seen["User-Agent"]
    assert "gzip" in seen["Accept-Encoding"]


def test_etag_gives_304_on_the_second_fetch(httpserver):
    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(RSS, headers={"ETag": '"v1"'}, content_type="application/rss+xml")

    httpserver.expect_request("/feed").respond_with_handler(handler)
    first = fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert first.status == 200 and first.validators.etag == '"v1"'
    second = fetcher().fetch("Wire", httpserver.url_for("/feed"), first.validators)
    assert second.not_modified and second.body == b""


def test_last_modified_gives_304_on_the_second_fetch(httpserver):
    stamp = "Tue, 24 Nov 2026 10:00:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return Response(RSS, headers={"Last-Modified": stamp})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    first = fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert first.validators == Validators(None, stamp)
    assert fetcher().fetch("Wire", httpserver.url_for("/feed"), first.validators).not_modified


@pytest.mark.parametrize(("codes", "permanent"), [
    ((301,), True), ((308,), True), ((302,), False), ((307,), False), ((301, 302), False),
    ((301, 308), True),
])  # fmt: skip
def test_only_a_chain_of_permanent_redirects_moves_the_source(httpserver, codes, permanent):
    for hop, code in enumerate(codes):
        target = httpserver.url_for(f"/hop{hop + 1}")
        httpserver.expect_request(f"/hop{hop}").respond_with_data(
            "", status=code, headers={"Location": target}
        )
    final = f"/hop{len(codes)}"
    httpserver.expect_request(final).respond_with_data(RSS)
    result = fetcher().fetch("Wire", httpserver.url_for("/hop0"))
    assert result.body == RSS and result.url == httpserver.url_for(final)
    assert result.permanent_url == (httpserver.url_for(final) if permanent else None)


def test_redirect_loop_stops_after_max_redirects(httpserver):
    httpserver.expect_request("/a").respond_with_data("", 302, {"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", 302, {"Location": "/a"})
    with pytest.raises(FetchError, match=r"^Wire: more than 3 redirects"):
        fetcher(max_redirects=3).fetch("Wire", httpserver.url_for("/a"))
    assert len(httpserver.log) == 4  # the first request and 3 redirects, no more


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/feed", "gopher://x/"])
def test_redirect_to_another_scheme_is_refused_before_any_request(httpserver, target):
    httpserver.expect_request("/feed").respond_with_data("", 301, {"Location": target})
    with pytest.raises(FetchError, match=r"refusing .* only http and https") as caught:
        fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert target in str(caught.value)


def test_a_file_url_is_refused_outright():
    with pytest.raises(FetchError, match=r"^Wire: refusing file URL"):
        fetcher().fetch("Wire", "file:///etc/passwd")


@pytest.mark.parametrize(("status", "words"), [
    (410, "HTTP 410 Gone at .* polling stopped"), (500, "HTTP 500 INTERNAL SERVER ERROR at"),
    (404, "HTTP 404 NOT FOUND at"),
])  # fmt: skip
def test_error_statuses_name_the_source_status_and_url(httpserver, status, words):
    httpserver.expect_request("/feed").respond_with_data("oops", status=status)
    with pytest.raises(FetchError, match=rf"^Wire: {words}") as caught:
        fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert caught.value.status == status and not caught.value.network
    assert httpserver.url_for("/feed") in str(caught.value)


def test_429_retry_after_in_seconds(httpserver):
    httpserver.expect_request("/feed").respond_with_data("", 429, {"Retry-After": "120"})
    with pytest.raises(FetchError, match="429 .*slow down") as caught:
        fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert caught.value.retry_after == 120


def test_503_retry_after_as_http_date(httpserver):
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    httpserver.expect_request("/feed").respond_with_data("", 503, {"Retry-After": when})
    with pytest.raises(FetchError, match="503") as caught:
        fetcher().fetch("Wire", httpserver.url_for("/feed"))
    assert 3500 < caught.value.retry_after <= 3600


def test_parse_retry_after_ignores_nonsense():
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now


def test_retry_after_date_is_measured_against_the_servers_own_clock():
    # A server whose clock runs two hours behind ours asks for one hour: one hour it is.
    sent, retry = "Wed, 21 Oct 2015 07:00:00 GMT", "Wed, 21 Oct 2015 08:00:00 GMT"
    assert parse_retry_after(retry, server_date=sent) == 3600.0
    assert parse_retry_after(retry, server_date="garbage", now=0) > 3600  # falls back to ours
    assert parse_retry_after(retry, server_date="Wed, 21 Oct 2015 09:00:00 GMT") == 0.0


def test_connection_refused_is_a_network_failure():
    url = f"http://127.0.0.1:{closed_port()}/feed"
    with pytest.raises(FetchError, match=r"^Wire: cannot connect") as caught:
        fetcher().fetch("Wire", url)
    assert caught.value.network


def test_dns_failure_is_a_network_failure(monkeypatch):
    # No real lookup: the resolver is replaced by one that knows no name, as offline.
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "feed.example.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(FetchError, match="cannot connect.*(resolve|Name or service)") as caught:
        fetcher().fetch("Wire", "http://feed.example.invalid/rss")
    assert caught.value.network


def test_a_server_dripping_one_byte_a_second_is_cut_at_the_deadline():
    with raw_server({"/drip": drip_body(1.0)}) as base:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"^Wire: .*within the 1.5s deadline"):
            fetcher(deadline=1.5).fetch("Wire", base + "/drip")
        assert time.monotonic() - started < 6  # the deadline, not the 1000 s the body takes


def test_headers_dripping_one_byte_a_second_are_cut_at_the_deadline():
    with raw_server({"/drip": drip_headers(0.5)}) as base:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"^Wire: .*within the 1.5s deadline"):
            fetcher(deadline=1.5).fetch("Wire", base + "/drip")
        assert time.monotonic() - started < 6


def test_a_short_deadline_behind_a_long_one_is_cut_at_its_own_time():
    # One watchdog thread keeps every fetch's deadline: a fetch started later
    # with a sooner deadline must wake it, not wait for the earlier one's.
    with raw_server({"/drip": drip_body(0.5)}) as base:
        slow: dict[str, float] = {}

        def long_fetch() -> None:
            started = time.monotonic()
            with pytest.raises(FetchError, match="within the 4s deadline"):
                fetcher(deadline=4).fetch("Long", base + "/drip")
            slow["took"] = time.monotonic() - started

        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(long_fetch)
            time.sleep(0.3)
            started = time.monotonic()
            with pytest.raises(FetchError, match=r"^Short: .*within the 1s deadline"):
                fetcher(deadline=1).fetch("Short", base + "/drip")
            assert time.monotonic() - started < 3
            running.result(timeout=10)
        assert slow["took"] >= 3.5  # not cut by the short one's deadline


def test_a_process_forked_while_the_deadline_thread_is_busy_still_keeps_deadlines():
    # The shared watchdog's lock is held for a moment at every fetch: a child
    # forked then must not inherit it held, nor rely on a thread it does not have.
    with raw_server({"/drip": drip_body(0.5)}) as base:
        with pytest.raises(FetchError):
            fetcher(deadline=1).fetch("Parent", base + "/drip")
        with fetch_module._WATCHDOG._wake:  # as another thread may hold it
            pid = os.fork()
            if pid == 0:  # the child: exit 0 only when the deadline cut the fetch
                try:
                    fetcher(deadline=1).fetch("Child", base + "/drip")
                except FetchError as e:
                    os._exit(0 if "deadline" in str(e) else 1)
                os._exit(2)
        waited = time.monotonic()
        while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() - waited < 15:
            time.sleep(0.05)
        if done == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the deadline thread's lock")
        assert os.waitstatus_to_exitcode(done[1]) == 0


def test_fetches_share_one_deadline_thread(httpserver, monkeypatch):
    # A timer thread per fetch was a fifth of a pass whose sources all answer 304.
    httpserver.expect_request("/feed").respond_with_data(RSS, headers={"ETag": '"v1"'})
    started: list[str] = []
    start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    client = fetcher()
    for _ in range(30):
        assert client.fetch("Wire", httpserver.url_for("/feed")).body == RSS
    ours = [name for name in started if "deadline" in name or name.startswith("Thread-")]
    assert len(ours) <= 1, ours


def test_an_endless_body_is_cut_at_max_bytes():
    with raw_server({"/endless": endless_body()}) as base:
        with pytest.raises(FetchError, match=r"over the 1,048,576-byte cap"):
            fetcher(max_bytes=1 << 20, deadline=20).fetch("Wire", base + "/endless")


def test_a_declared_oversized_body_is_refused_before_reading(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(FetchError, match=r"body of 5,000 bytes is over the 1,000 cap"):
        fetcher(max_bytes=1000).fetch("Wire", httpserver.url_for("/big"))


def test_a_gzip_bomb_is_cut_after_decompression():
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < 1 << 20  # under the cap as sent: only decompression reveals it
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
    with raw_server({"/bomb": fixed(200, bomb, headers)}) as base:
        with pytest.raises(FetchError, match=r"over the 1,048,576-byte cap \(decompressed\)"):
            fetcher(max_bytes=1 << 20, deadline=20).fetch("Wire", base + "/bomb")


def test_feeds_of_one_host_share_a_kept_alive_connection_but_not_after_an_unread_body():
    ports: list[int] = []

    def noting(route):  # noqa: ANN001, ANN202
        def noted(handler, stopping):  # noqa: ANN001, ANN202
            ports.append(handler.client_address[1])  # one client port per connection
            route(handler, stopping)

        return noted

    etag = {"ETag": '"v1"', "Content-Type": "application/rss+xml"}

    def feed(handler, stopping):  # noqa: ANN001, ANN202
        if handler.headers.get("If-None-Match") == '"v1"':
            fixed(304, b"", {"ETag": '"v1"'})(handler, stopping)
        else:
            fixed(200, RSS, etag)(handler, stopping)

    routes = {"/a": noting(feed), "/b": noting(feed), "/big": noting(fixed(200, b"x" * 5000))}
    with raw_server(routes) as base:
        client = fetcher(max_bytes=4000)
        first = client.fetch("A", base + "/a")
        assert client.fetch("A", base + "/a", first.validators).status == 304
        assert client.fetch("B", base + "/b").body == RSS
        assert len(ports) == 3 and len(set(ports)) == 1  # 200, 304, another feed: one connection
        with pytest.raises(FetchError, match="over the 4,000 cap"):  # refused unread
            client.fetch("Big", base + "/big")
        # The unread body's connection is not handed to the next fetch.
        assert client.fetch("B", base + "/b").body == RSS
        assert ports[-1] != ports[0]


def test_at_most_per_host_requests_at_once_to_one_host():
    lock, active, peak = threading.Lock(), [0], [0]
    with raw_server({"/feed": counting(active, peak, lock, hold=0.3)}) as base:
        client = fetcher(per_host=2, deadline=20)
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda i: client.fetch(f"S{i}", base + "/feed"), range(6)))
    assert all(r.status == 200 for r in results)
    assert peak[0] == 2  # six sources on one host, never more than two requests at once


def test_waiting_for_a_host_slot_does_not_count_against_the_deadline():
    lock, active, peak = threading.Lock(), [0], [0]
    with raw_server({"/feed": counting(active, peak, lock, hold=1.0)}) as base:
        client = fetcher(per_host=1, deadline=1.6)
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda i: client.fetch(f"S{i}", base + "/feed"), range(2)))
    # The second waited a second for its turn and took another: 2 s, over its deadline.
    assert [r.status for r in results] == [200, 200] and peak[0] == 1


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1, made with the openssl tool."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return str(cert), str(key)


def test_https_is_fetched_and_bounded_by_the_deadline_too(certificate):
    routes = {"/feed": fixed(200, RSS), "/drip": drip_body(1.0)}
    with raw_server(routes, tls=certificate) as base:
        client = fetcher(deadline=1.5)
        client._session().verify = certificate[0]  # trust our test certificate (this thread)
        assert client.fetch("Wire", base + "/feed").body == RSS
        with pytest.raises(FetchError, match=r"within the 1.5s deadline"):
            client.fetch("Wire", base + "/drip")


def test_an_untrusted_certificate_is_a_clear_error_not_an_outage(certificate):
    with raw_server({"/feed": fixed(200, RSS)}, tls=certificate) as base:
        with pytest.raises(FetchError, match=r"^Wire: TLS error: .*certificate verify failed"):
            fetcher().fetch("Wire", base + "/feed")
