"""A person opens the pages: index.html and an article page in headless Chromium,
served over http://127.0.0.1, checked through the DOM Chromium rendered and its
console log (no script errors, nothing blocked by the pages' CSP).

Skipped only where Chromium is not installed (CI installs the Debian package).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest

from echofeed.config import load_config
from echofeed.pipeline import refresh

from .conftest import DATA
from .httpfolder import folder_server

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
RSS = (DATA / "feeds" / "rss2.xml").read_bytes()

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# What Chromium logs for a page's problems: any console message (our pages log
# nothing, so one means a script ran or was blocked), uncaught exceptions, and
# anything the Content-Security-Policy refused, e.g.
#   INFO:CONSOLE:1] "Uncaught ReferenceError: f is not defined", source: ...
PAGE_PROBLEM = re.compile(
    r"CONSOLE[:(]\d+|Uncaught|Content Security Policy|Refused to", re.IGNORECASE
)


def render(url: str, profile: Path, screenshot: Path | None = None) -> tuple[str, str]:
    """Chromium's DOM of `url` after load, and its log."""
    argv = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--mute-audio",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--window-size=1000,1400",
    ]  # fmt: skip
    argv += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    env = {**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config"),
           "XDG_CACHE_HOME": str(profile / "cache")}  # fmt: skip
    result = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=90,
        stdin=subprocess.DEVNULL, env=env, cwd=profile,
    )  # fmt: skip
    assert result.returncode == 0, f"chromium failed on {url}: {result.stderr[-2000:]}"
    return result.stdout, result.stderr


def test_chromium_shows_headlines_subscribe_links_and_the_article(
    newsroom, real_seed, tmp_path, httpserver
):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    profile = tmp_path / "chromium"
    profile.mkdir()
    with folder_server() as server:
        base_url = server.url
        config = load_config(newsroom(
            base_url=base_url,
            sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
            topics={"Venezuela": {"keywords": ["Venezuela"]}},
        ))  # fmt: skip
        report = refresh(config)
        assert not report.errors, report.summary()
        server.serve(tmp_path / "feeds")

        index_dom, index_log = render(base_url + "index.html", profile)
        article_url = base_url + "article/8f9feb9b160033ea.html"
        article_dom, article_log = render(article_url, profile)
        shot = tmp_path / "article.png"
        render(article_url, profile, screenshot=shot)

    for log in (index_log, article_log):
        problems = [line for line in log.splitlines() if PAGE_PROBLEM.search(line)]
        assert problems == [], "\n".join(problems)

    index = lxml.html.fromstring(index_dom)
    assert index.xpath("string(//title)") == "GlobalEcho"
    headlines = [a.text_content() for a in index.xpath("//ol[@class='headlines']/li/a")]
    assert headlines[0] == "U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence"
    assert {"Storm Closes Ports Along the Gulf Coast", "Central Bank Holds Rates Steady"} <= set(
        headlines
    )
    subscribe = {a.get("href"): a.text_content() for a in index.xpath("//table//a")}
    assert subscribe[base_url + "all.atom"] == "Atom"
    assert subscribe[base_url + "topic/venezuela.json"] == "JSON Feed"
    assert index.xpath("//script") == []

    article = lxml.html.fromstring(article_dom)
    assert article.xpath("string(//h1)") == (
        "U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence"
    )
    text = article.text_content()
    body = real_seed.read_text(encoding="utf-8").split("\n")[-1]
    assert body in text and "By Ahmad Wehbe" in text and "Example Wire" in text
    # The screenshot is a real rendering, not an empty page.
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
