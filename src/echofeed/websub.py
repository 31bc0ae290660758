"""WebSub publishing: tell the hub which feeds changed, so it pushes them to
subscribers (https://www.w3.org/TR/websub/, publish mode as hubs implement it).

A hub that is down or refuses must never cost the newsroom its feeds: each
failure comes back as a message naming the hub and the feed, and the feeds
are already on disk when we ping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import requests

from . import __version__

log = logging.getLogger(__name__)

PING_TIMEOUT = (5.0, 10.0)  # connect, read: seconds


def ping_hub(
    hub_url: str, feed_urls: Iterable[str], *, session: requests.Session | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """POST hub.mode=publish for each feed URL; return (pinged, problems).

    One request per feed: every hub accepts that form, while several hub.url
    values in one request are an extension only some understand.
    """
    pinged: list[str] = []
    problems: list[str] = []
    urls = list(feed_urls)
    http = session or requests.Session()
    try:
        for url in urls:
            try:
                response = http.post(
                    hub_url,
                    data={"hub.mode": "publish", "hub.url": url},
                    headers={"User-Agent": f"echofeed/{__version__}"},
                    timeout=PING_TIMEOUT,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as e:
                # The hub itself is unreachable: say so once rather than wait out
                # a timeout for every changed feed.
                reason = "timed out" if isinstance(e, requests.Timeout) else "cannot connect"
                problems.append(
                    f"WebSub hub {hub_url}: {reason}; {len(urls) - len(pinged)} changed "
                    "feed(s) not announced (readers still get them on their next poll)"
                )
                break
            except requests.RequestException as e:
                problems.append(f"WebSub hub {hub_url}: ping for {url} failed: {e}")
                continue
            if 200 <= response.status_code < 300:
                pinged.append(url)
            else:
                problems.append(
                    f"WebSub hub {hub_url}: ping for {url} refused: HTTP {response.status_code}"
                )
    finally:
        if session is None:
            http.close()
    for problem in problems:
        log.warning("%s", problem)
    return tuple(pinged), tuple(problems)
