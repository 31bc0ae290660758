"""What a pass loads: a pass that finds nothing changed does not load the process
pool it parses feeds in, and numpy/pandas, which sqlite-utils would import when
installed, are never imported for echofeed; code imported later still gets them."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from echofeed.cli import cli
from echofeed.pipeline import PARSE_PROCESSES_FROM

from .conftest import DATA, write_seed

# Stand-ins for numpy and pandas: importing one leaves a mark in a file.
FAKE_MODULE = """
import os
with open(os.environ["IMPORTED_LOG"], "a", encoding="utf-8") as log:
    log.write(__name__ + "\\n")

def __getattr__(name):  # np.int8 and the like, for sqlite-utils' type table
    return type(name, (), {})
"""

# One `echofeed refresh` through the CLI, then what the process had imported.
PASS = """
import json, os, sys
from echofeed.cli import cli
os.cpu_count = lambda: 2  # the parser processes start on two cores or more
try:
    cli(["--config", sys.argv[1], "refresh"], standalone_mode=False)
finally:
    loaded = sorted(m for m in ("concurrent.futures.process", "multiprocessing")
                    if m in sys.modules)
    print(json.dumps(loaded))
"""


def run_pass(tmp_path: Path, config: Path, *extra: str) -> tuple[list[str], list[str]]:
    """(the modules of interest the pass imported, the fake modules that were imported)."""
    fakes = tmp_path / "fakes"
    fakes.mkdir(exist_ok=True)
    for name in ("numpy", "pandas"):
        (fakes / f"{name}.py").write_text(FAKE_MODULE, encoding="utf-8")
    log = tmp_path / "imported.log"
    log.unlink(missing_ok=True)
    src = Path(__file__).parent.parent / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fakes), str(src), os.environ.get("PYTHONPATH", "")]),
        "IMPORTED_LOG": str(log),
    }
    done = subprocess.run(
        [sys.executable, "-c", PASS + "\n".join(extra), str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    fakes_imported = log.read_text("utf-8").split() if log.exists() else []
    return loaded, fakes_imported


def test_a_pass_with_nothing_changed_loads_no_process_pool_nor_numpy(
    newsroom, tmp_path, httpserver
):
    # Enough sources for the parser processes (pipeline.PARSE_PROCESSES_FROM).
    body = (DATA / "feeds" / "rss2.xml").read_bytes()
    for i in range(PARSE_PROCESSES_FROM):
        httpserver.expect_request(f"/{i}").respond_with_data(
            body.replace(b"<guid", f"<category>feed {i}</category><guid".encode()),
            headers={"ETag": f'"{i}"'}, content_type="application/rss+xml",
        )  # fmt: skip
    sources = [{"name": f"Wire {i}", "url": httpserver.url_for(f"/{i}")}
               for i in range(PARSE_PROCESSES_FROM)]  # fmt: skip
    config = newsroom(sources=sources)
    write_seed(tmp_path / "seeds", "a.txt", "Harbour reopens after storm")
    first, fakes = run_pass(tmp_path, config)
    assert "concurrent.futures.process" in first  # it parsed in processes
    assert (tmp_path / "feeds" / "all.atom").is_file()
    again, fakes_again = run_pass(tmp_path, config)
    assert again == []
    assert fakes == fakes_again == []


def test_numpy_and_pandas_are_hidden_from_sqlite_utils_only(newsroom, tmp_path):
    config = newsroom()
    write_seed(tmp_path / "seeds", "a.txt", "Harbour reopens after storm")
    # The pass imported neither (see above); code that imports them after it gets them.
    _, fakes = run_pass(tmp_path, config, "import numpy, pandas")
    assert sorted(fakes) == ["numpy", "pandas"]


def test_what_the_parser_processes_fork_server_imports_stays_light():
    # The fork server imports the main script (under `echofeed`, the CLI module) and
    # echofeed.prepare before the first parser process can start: neither may pull
    # in the store, the fetcher, the publisher or their libraries.
    heavy = ["echofeed.pipeline", "echofeed.store", "echofeed.fetch", "echofeed.publish",
             "sqlite_utils", "requests", "feedgen", "rich", "yaml", "urllib.request"]  # fmt: skip
    probe = (
        "import json, sys\n"
        "import echofeed.cli, echofeed.prepare\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    src = Path(__file__).parent.parent / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == []


def test_refresh_leaves_what_it_imported_out_of_the_collectors_walks(
    newsroom, tmp_path, monkeypatch
):
    # Modules live as long as the process: walking them in every full collection,
    # and once more at exit, was 55 ms of a first refresh of 50 feeds.
    monkeypatch.chdir(tmp_path)
    config = newsroom()
    write_seed(tmp_path / "seeds", "001_00000000000000aa.txt", "Harbour reopens after storm")
    assert gc.get_freeze_count() == 0
    result = CliRunner().invoke(cli, ["--config", str(config), "refresh"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() > 10_000  # the modules, their functions and classes
    assert "Harbour reopens after storm" in (tmp_path / "feeds" / "all.atom").read_text("utf-8")
