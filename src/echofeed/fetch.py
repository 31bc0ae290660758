"""HTTP for external feeds: polite (conditional GET, User-Agent, gzip) and bounded.

Every fetch is bounded: connect and read timeouts, a total deadline enforced by
a watchdog that shuts the socket down (a server that drips a byte a second, in
its headers or its body, never trips a read timeout), a body cap counted after
decompression (a gzip bomb is cut off), a redirect limit, and only http and
https at every hop. Redirects are followed here, not by requests, so each hop is checked and
a chain of permanent ones (301, 308) can update the stored URL.
"""

from __future__ import annotations

import email.utils
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import __version__
from .config import FetchConfig
from .errors import FetchError

ALLOWED_SCHEMES = ("http", "https")
_PERMANENT = {301, 308}
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 16 * 1024


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last successful fetch said, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # where the body came from, after redirects
    status: int  # 200, or 304 when not modified
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    permanent_url: str | None = None  # set when every redirect on the way was permanent
    validators: Validators = Validators()

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def user_agent(contact_url: str | None = None) -> str:
    contact = f"; +{contact_url}" if contact_url else ""
    return f"echofeed/{__version__} (feed aggregator{contact}) requests/{requests.__version__}"


def parse_retry_after(
    value: str | None, now: float | None = None, server_date: str | None = None
) -> float | None:
    """Retry-After as seconds from now: a number, or an HTTP date.

    An HTTP date is measured against the response's own Date header when it has a
    readable one: both come from the server's clock, so a server whose clock is off
    by an hour still gets the wait it asked for, not one an hour longer or shorter.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    sent = _http_date(server_date) if server_date else None
    if sent is not None:
        return max(0.0, (when - sent).total_seconds())
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _http_date(value: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


class _HostSlots:
    """At most `per_host` requests at once to one host, shared by all threads."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def __call__(self, url: str) -> threading.BoundedSemaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            return self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))


class _Deadline:
    """The total deadline of one fetch, redirects and body included.

    When it passes, the socket in use is shut down: that wakes a read blocked
    on it, which closing the response does not.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None
        self.expired = threading.Event()
        self.cancelled = False
        self._lock = threading.Lock()
        self._connection: object | None = None

    def start(self) -> None:
        """Start the clock at the first request: waiting for a host slot is not the
        server's slowness, and must not eat this source's time."""
        if self.started is None:
            self.started = time.monotonic()
            _WATCHDOG.watch(self.started + self.seconds, self)

    def remaining(self) -> float:
        if self.started is None:
            return self.seconds
        return self.seconds - (time.monotonic() - self.started)

    def watch(self, connection: object) -> None:
        with self._lock:
            self._connection = connection
        if self.expired.is_set():
            _shut_down(connection)

    def cancel(self) -> None:
        if self.started is not None and not self.cancelled:
            _WATCHDOG.cancel(self)

    def expire(self) -> None:
        self.expired.set()
        with self._lock:
            connection = self._connection
        if connection is not None:
            _shut_down(connection)


class _Watchdog:
    """One thread that expires every fetch's deadline when it passes.

    A timer thread per fetch (started and joined by the fetching thread) was a
    fifth of a pass whose 200 sources all answer 304. Cancelled deadlines are
    left in the heap until it is mostly cancelled ones, then swept out, so a
    daemon that fetches for weeks holds only the deadlines still running.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()  # ties: never compare two deadlines
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def watch(self, when: float, deadline: _Deadline) -> None:
        with self._wake:
            heapq.heappush(self._due, (when, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="echofeed-fetch-deadlines", daemon=True
                )
                self._thread.start()
            elif self._due[0][2] is deadline:
                self._wake.notify()  # sooner than the one it sleeps until

    def cancel(self, deadline: _Deadline) -> None:
        with self._wake:
            if deadline.cancelled:
                return
            deadline.cancelled = True
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._due):
                self._due = [item for item in self._due if not item[2].cancelled]
                heapq.heapify(self._due)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    while self._due and self._due[0][2].cancelled:
                        heapq.heappop(self._due)
                        self._cancelled -= 1
                    if not self._due:
                        self._wake.wait()
                        continue
                    wait = self._due[0][0] - time.monotonic()
                    if wait <= 0:
                        _, _, deadline = heapq.heappop(self._due)
                        deadline.cancelled = True  # expired: a later cancel() is a no-op
                        break
                    self._wake.wait(wait)
            deadline.expire()  # outside the lock: it shuts a socket down


_WATCHDOG = _Watchdog()
# A child forked while the watchdog's lock was held (or with deadlines it will
# never see end) starts with a watchdog of its own: it has no thread, and the
# lock would stay held forever.
os.register_at_fork(after_in_child=_WATCHDOG.__init__)


def _shut_down(connection: object) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


# The deadline of the fetch running in this thread; the pools below hand it
# every connection they lend, so its watchdog knows which socket to shut.
_current = threading.local()


class _WatchedPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None):  # noqa: ANN202 - urllib3's type
        connection = super()._get_conn(timeout)
        _watch(connection)
        return connection

    def _validate_conn(self, conn) -> None:  # noqa: ANN001 - urllib3's type
        super()._validate_conn(conn)  # https connects here
        if conn.is_closed:
            conn.connect()  # http would connect inside request(), out of our sight
        # Again now that the socket exists: the deadline may have passed while
        # connecting, with no socket yet to shut.
        _watch(conn)


def _watch(connection: object) -> None:
    deadline: _Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    pass


class Fetcher:
    """One HTTP client for a pass; thread-safe for concurrent fetches."""

    def __init__(self, settings: FetchConfig, *, contact_url: str | None = None) -> None:
        self.settings = settings
        self.user_agent = user_agent(contact_url)
        self._host_slots = _HostSlots(settings.per_host)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        # A session per thread: requests.Session is not documented as thread-safe.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or netrc from the environment
            session.headers.update(
                {
                    "User-Agent": self.user_agent,
                    "Accept": (
                        "application/atom+xml, application/rss+xml, application/feed+json, "
                        "application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
                    ),
                    "Accept-Encoding": "gzip, deflate",
                }
            )
            for adapter in session.adapters.values():
                adapter.poolmanager.pool_classes_by_scheme = {  # type: ignore[attr-defined]
                    "http": _WatchedPool,
                    "https": _WatchedHTTPSPool,
                }
            self._local.session = session
        return session

    def fetch(self, source: str, url: str, validators: Validators = Validators()) -> FetchResult:
        """GET url (conditionally); raise FetchError naming `source` on any failure."""
        headers: dict[str, str] = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        deadline = _Deadline(self.settings.deadline)
        _current.deadline = deadline
        try:
            permanent = True
            current = url
            for _hop in range(self.settings.max_redirects + 1):
                _check_scheme(source, current)
                with self._host_slots(current):
                    deadline.start()
                    response = self._get(source, current, headers, deadline)
                    answered = False
                    try:
                        if response.status_code in _REDIRECTS and "Location" in response.headers:
                            permanent = permanent and response.status_code in _PERMANENT
                            current = urljoin(current, response.headers["Location"].strip())
                            continue
                        result = self._finish(source, url, current, response, permanent, deadline)
                        answered = not deadline.expired.is_set()
                        return result
                    finally:
                        if answered:
                            # Read to its end (a 304 has no body): the connection goes
                            # back to the pool for the next fetch from this host, as
                            # requests does once a body is consumed. Closing it made a
                            # new TCP (and TLS) connection for every fetch.
                            response.raw.release_conn()
                        response.close()
            raise FetchError(source, f"more than {self.settings.max_redirects} redirects")
        finally:
            deadline.cancel()
            _current.deadline = None

    def _get(
        self, source: str, url: str, headers: dict[str, str], deadline: _Deadline
    ) -> requests.Response:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise self._too_slow(source)
        try:
            return self._session().get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(
                    min(self.settings.connect_timeout, remaining),
                    min(self.settings.read_timeout, remaining),
                ),
            )
        except requests.exceptions.RequestException as e:
            if deadline.expired.is_set():
                raise self._too_slow(source) from e
            if isinstance(e, requests.exceptions.SSLError):  # the server's fault, not our network
                raise FetchError(source, f"TLS error: {_reason(e)}") from e
            if isinstance(e, requests.exceptions.ConnectTimeout):
                raise FetchError(source, f"connection timed out: {url}", network=True) from e
            if isinstance(e, requests.exceptions.Timeout):
                raise FetchError(source, f"timed out waiting for {url}") from e
            if isinstance(e, requests.exceptions.ConnectionError):
                raise FetchError(source, f"cannot connect: {_reason(e)}", network=True) from e
            raise FetchError(source, f"request failed: {_reason(e)}") from e

    def _too_slow(self, source: str) -> FetchError:
        return FetchError(
            source, f"no complete answer within the {self.settings.deadline:g}s deadline"
        )

    def _finish(
        self,
        source: str,
        original_url: str,
        url: str,
        response: requests.Response,
        permanent: bool,
        deadline: _Deadline,
    ) -> FetchResult:
        status = response.status_code
        moved_to = url if permanent and url != original_url else None
        response_headers = {k.lower(): v for k, v in response.headers.items()}
        if status == 304:
            return FetchResult(url, 304, b"", response_headers, moved_to, _validators(response))
        if status >= 400 or status < 200 or status in _REDIRECTS:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), server_date=response.headers.get("Date")
            )
            raise FetchError(
                source, _status_reason(status, response.reason, url),
                status=status, retry_after=retry_after,
            )  # fmt: skip
        body = self._read_body(source, response, deadline)
        return FetchResult(url, status, body, response_headers, moved_to, _validators(response))

    def _read_body(self, source: str, response: requests.Response, deadline: _Deadline) -> bytes:
        limit = self.settings.max_bytes
        declared = response.headers.get("Content-Length", "")
        if (
            declared.isdigit()
            and int(declared) > limit
            and not response.headers.get("Content-Encoding")
        ):
            raise FetchError(source, f"body of {int(declared):,} bytes is over the {limit:,} cap")
        chunks: list[bytes] = []
        size = 0
        try:
            # decode_content: the cap counts what gzip inflates to, chunk by chunk.
            for chunk in response.raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > limit:
                    raise FetchError(source, f"body is over the {limit:,}-byte cap (decompressed)")
                chunks.append(chunk)
        except FetchError:
            raise
        except (
            urllib3.exceptions.HTTPError,
            requests.exceptions.RequestException,
            OSError,
            ValueError,  # urllib3 reading from a socket the watchdog shut
        ) as e:
            if deadline.expired.is_set():
                raise self._too_slow(source) from e
            raise FetchError(source, f"body could not be read: {_reason(e)}") from e
        # A body without Content-Length ends when the socket does, also when the
        # watchdog shut it: that is a cut, not the end.
        if deadline.expired.is_set():
            raise self._too_slow(source)
        return b"".join(chunks)


def _check_scheme(source: str, url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(
            source, f"refusing {scheme or 'scheme-less'} URL {url!r}: only http and https"
        )


def _validators(response: requests.Response) -> Validators:
    return Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))


def _status_reason(status: int, reason: str | None, url: str) -> str:
    if status == 410:
        return f"HTTP 410 Gone at {url}: the publisher removed this feed; polling stopped"
    if status in (429, 503):
        return f"HTTP {status} {reason or ''} at {url}: the server asks us to slow down".replace(
            "  ", " "
        )
    if status in _REDIRECTS:
        return f"HTTP {status} redirect without a Location header at {url}"
    return f"HTTP {status} {reason or ''} at {url}".replace("  ", " ").strip()


def _reason(error: BaseException) -> str:
    # requests nests the real cause several levels deep; the innermost is the readable one.
    cause: BaseException | None = error
    text = str(error)
    while cause is not None:
        if str(cause):
            text = str(cause)
        cause = cause.__cause__ or cause.__context__
        if isinstance(cause, urllib3.exceptions.MaxRetryError) and cause.reason:
            cause = cause.reason
    return text[:300]


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)
