"""HTTP for external feeds: polite (conditional GET, User-Agent, gzip) and bounded.

Every fetch is bounded: connect and read timeouts, a total deadline enforced by
a watchdog that closes the connection, a body cap counted after decompression
(a gzip bomb is cut off), a redirect limit, and only http and https at every
hop. Redirects are followed here, not by requests, so each hop is checked and
a chain of permanent ones (301, 308) can update the stored URL.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


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
            self._local.session = session
        return session

    def fetch(self, source: str, url: str, validators: Validators = Validators()) -> FetchResult:
        """GET url (conditionally); raise FetchError naming `source` on any failure."""
        started = time.monotonic()
        headers: dict[str, str] = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        permanent = True
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            _check_scheme(source, current)
            with self._host_slots(current):
                response = self._get(source, current, headers, started)
                try:
                    if response.status_code in _REDIRECTS and "Location" in response.headers:
                        permanent = permanent and response.status_code in _PERMANENT
                        current = urljoin(current, response.headers["Location"])
                        continue
                    return self._finish(source, url, current, response, permanent, started)
                finally:
                    response.close()
        raise FetchError(source, f"more than {self.settings.max_redirects} redirects")

    def _get(
        self, source: str, url: str, headers: dict[str, str], started: float
    ) -> requests.Response:
        remaining = self.settings.deadline - (time.monotonic() - started)
        if remaining <= 0:
            raise FetchError(source, f"no answer within the {self.settings.deadline:g}s deadline")
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
        except requests.exceptions.ConnectTimeout as e:
            raise FetchError(source, f"connection timed out: {url}", network=True) from e
        except requests.exceptions.Timeout as e:
            raise FetchError(source, f"timed out waiting for {url}") from e
        except requests.exceptions.ConnectionError as e:
            raise FetchError(source, f"cannot connect: {_reason(e)}", network=True) from e
        except requests.exceptions.RequestException as e:
            raise FetchError(source, f"request failed: {_reason(e)}") from e

    def _finish(
        self,
        source: str,
        original_url: str,
        url: str,
        response: requests.Response,
        permanent: bool,
        started: float,
    ) -> FetchResult:
        status = response.status_code
        moved_to = url if permanent and url != original_url else None
        response_headers = {k.lower(): v for k, v in response.headers.items()}
        if status == 304:
            return FetchResult(url, 304, b"", response_headers, moved_to, _validators(response))
        if status >= 400 or status < 200 or status in _REDIRECTS:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise FetchError(
                source, _status_reason(status, response.reason, url),
                status=status, retry_after=retry_after,
            )  # fmt: skip
        body = self._read_body(source, url, response, started)
        return FetchResult(url, status, body, response_headers, moved_to, _validators(response))

    def _read_body(
        self, source: str, url: str, response: requests.Response, started: float
    ) -> bytes:
        limit = self.settings.max_bytes
        declared = response.headers.get("Content-Length", "")
        if (
            declared.isdigit()
            and int(declared) > limit
            and not response.headers.get("Content-Encoding")
        ):
            raise FetchError(source, f"body of {int(declared):,} bytes is over the {limit:,} cap")
        remaining = self.settings.deadline - (time.monotonic() - started)
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            _close_quietly(response)

        # The read timeout bounds each wait, not the sum: a server that drips one
        # byte a second never trips it. The watchdog bounds the whole body.
        watchdog = threading.Timer(max(remaining, 0.0), stop)
        watchdog.daemon = True
        watchdog.start()
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > limit:
                    raise FetchError(source, f"body is over the {limit:,}-byte cap (decompressed)")
                chunks.append(chunk)
                if timed_out.is_set():
                    break
        except FetchError:
            raise
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as e:
            if timed_out.is_set():
                raise FetchError(
                    source, f"body not complete within the {self.settings.deadline:g}s deadline"
                ) from e
            raise FetchError(source, f"body could not be read: {_reason(e)}") from e
        except (ValueError, AttributeError) as e:  # urllib3 reading from a closed socket
            if timed_out.is_set():
                raise FetchError(
                    source, f"body not complete within the {self.settings.deadline:g}s deadline"
                ) from e
            raise FetchError(source, f"body could not be read: {e}") from e
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise FetchError(
                source, f"body not complete within the {self.settings.deadline:g}s deadline"
            )
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


def _close_quietly(response: requests.Response) -> None:
    try:
        response.raw._fp.close()  # type: ignore[attr-defined]  # unblocks a pending read
    except Exception:  # noqa: BLE001 - best effort from the watchdog thread
        pass
    try:
        response.close()
    except Exception:  # noqa: BLE001
        pass


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)
