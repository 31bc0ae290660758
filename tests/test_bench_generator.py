"""The benchmark's synthetic newsroom is valid input, and `bench/run.py --quick` runs end to end.

No timing is asserted here: speed is for `make bench`. These tests check that
what the benchmark measures is real work on valid seeds and feeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bench import run as bench_run
from bench.generate import change_inputs, generate_newsroom, serve_folder
from echofeed.config import SourceConfig
from echofeed.dedup import headline_key
from echofeed.parse import parse_feed
from echofeed.seeds import parse_seed

REPO = Path(__file__).parent.parent


def test_generated_seeds_and_feeds_parse_and_retell_stories(tmp_path):
    manifest = generate_newsroom(tmp_path, 15, 4, 6, duplicate_share=0.4)
    seeds = sorted((tmp_path / "seeds").iterdir())
    assert len(seeds) == 15
    keys_seen: set[str] = set()
    for path in seeds:
        entry = parse_seed(path, path.read_bytes()).entry  # raises SeedError if invalid
        assert entry.byline and entry.body_html.count("<p>") >= 3
        assert headline_key(entry.headline) not in keys_seen  # seeds are distinct stories
        keys_seen.add(headline_key(entry.headline))
    feeds = sorted((tmp_path / "feeds").iterdir())
    assert [p.suffix for p in feeds] == [".xml", ".atom", ".xml", ".atom"]
    retold = 0
    for path in feeds:
        source = SourceConfig(name=path.stem, url=f"http://127.0.0.1/{path.name}")
        headers = {"content-type": "application/xml; charset=utf-8"}
        parsed = parse_feed(path.read_bytes(), source, headers=headers)
        assert len(parsed.entries) == 6 and not parsed.warnings
        for entry in parsed.entries:
            assert "<script" not in entry.body_html and "<p>" in entry.body_html
            assert entry.published is not None and entry.link.startswith("https://")
            key = headline_key(entry.headline)
            retold += key in keys_seen
            keys_seen.add(key)
    assert manifest.feed_entries == 24 and manifest.variant_duplicates > 0
    # Form variants (case, quotes, spacing, accents) must still be the same story;
    # "&" for "and" is the one variant today's headline key does not fold.
    assert manifest.duplicate_entries * 0.75 <= retold <= manifest.duplicate_entries


def test_feed_server_answers_304_until_the_feed_changes(tmp_path):
    generate_newsroom(tmp_path, 3, 2, 3)
    server, base_url = serve_folder(tmp_path / "feeds")
    try:
        with requests.Session() as http:
            urls = [f"{base_url}feed0000.xml", f"{base_url}feed0001.atom"]
            first = [http.get(url, timeout=10) for url in urls]
            assert [r.status_code for r in first] == [200, 200]
            assert "rss" in first[0].headers["Content-Type"]
            etags = [r.headers["ETag"] for r in first]
            again = [
                http.get(url, headers={"If-None-Match": etag}, timeout=10)
                for url, etag in zip(urls, etags, strict=True)
            ]
            assert [r.status_code for r in again] == [304, 304]
            assert change_inputs(tmp_path, 0.5) == {"seeds": 2, "feeds": 1}
            after = [
                http.get(url, headers={"If-None-Match": etag}, timeout=10)
                for url, etag in zip(urls, etags, strict=True)
            ]
            assert sorted(r.status_code for r in after) == [200, 304]
            assert http.get(f"{base_url}missing.xml", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_stage_clock_refuses_a_name_the_pipeline_no_longer_has(monkeypatch):
    monkeypatch.setattr(bench_run, "STAGES", [("echofeed.pipeline", "no_such_stage", "parse")])
    with pytest.raises(bench_run.BenchError, match="echofeed.pipeline.no_such_stage is gone"):
        bench_run.StageClock().install()


def test_load_client_counts_every_answer_of_a_wsgi_app():
    def app(environ, start_response):
        found = environ["PATH_INFO"] == "/all.atom"
        start_response("200 OK" if found else "404 Not Found", [("Content-Length", "2")])
        return [b"ok" if found else b"no"]

    with bench_run.serve_wsgi(app) as url:
        load = bench_run.load_test(
            url, ["all.atom", "missing.atom"], clients=4, max_requests=40, max_seconds=30
        )
    assert load["requests"] == 40 and not load["errors"]
    assert load["statuses"] == {"200": 20, "404": 20}
    assert 0 < load["p50_ms"] <= load["p99_ms"]


def test_quick_bench_runs_end_to_end(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--no-peer",
         "--out", str(out), "--work", str(work)],
        capture_output=True, text=True, timeout=150, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text("utf-8"))
    [size] = results["sizes"]
    full, nochange, changed = size["full"], size["nochange"], size["changed"]
    assert full["counts"]["new"] + full["counts"]["duplicate"] == 20 + 3 * 5
    assert full["counts"]["duplicate"] >= 1
    assert set(full["stages"]) == set(bench_run.STAGE_ORDER)
    # The repeat passes really were cheap in kind: nothing fetched, parsed or rewritten.
    assert nochange["seeds_read"] == 0 and nochange["sources"] == {"not modified": 3}
    assert nochange["feeds_written"] == 0
    assert changed["seeds_read"] == 1 and changed["sources"].get("ok") == 1
    dedup = results["dedup"]
    # Half the new headlines retell stored stories: the matcher finds them, in any form.
    assert dedup["matcher"]["hits"] >= max(dedup["dict"]["hits"] or 0, dedup["retold"] * 0.8)
    load = results["load"][0]
    assert load["requests"] > 0 and set(load["statuses"]) == {"200"} and not load["errors"]
    report = (out / "results.md").read_text("utf-8")
    for heading in ("## 1-3. Refresh time", "## 4. Ingest throughput", "## 5. Dedup",
                    "## Serving: load test"):  # fmt: skip
        assert heading in report
    assert not work.exists()  # the scratch folder is removed unless --keep
