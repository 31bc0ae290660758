from __future__ import annotations

import gc
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent
REAL_SEED = REPO / "seeds" / "000_8f9feb9b160033ea.txt"


@pytest.fixture(autouse=True)
def _collectable_again():
    """The CLI's commands freeze what is alive (cli.freeze_imported): in one test
    process that would keep every earlier test's garbage for good."""
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def newsroom(tmp_path: Path):
    """A config writer: newsroom(sources=[...], topics={...}) -> path of config.yaml."""

    def write(**overrides: Any) -> Path:
        settings: dict[str, Any] = {
            "title": "GlobalEcho",
            "base_url": "http://127.0.0.1:8080/",
            "seeds_dir": "seeds",
            "database": "echofeed.db",
            "output_dir": "feeds",
            "seed_quiet_seconds": 0,
            "sources": [],
            "topics": {},
        }
        settings.update(overrides)
        (tmp_path / "seeds").mkdir(exist_ok=True)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        return path

    return write


@pytest.fixture
def real_seed(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir(exist_ok=True)
    target = tmp_path / "seeds" / REAL_SEED.name
    shutil.copyfile(REAL_SEED, target)
    return target


def write_seed(
    folder: Path,
    name: str,
    headline: str,
    body: str = "First paragraph of the story.\n\nSecond paragraph.",
    *,
    section: str = "World",
    byline: str = "Ana Reporter",
    publication: str = "GlobalEcho",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = f"{publication}\n{section}\n\n{headline}\n\n{byline}\n\n{headline}\n\n{body}"
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
