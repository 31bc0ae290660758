"""How headline matching scales: `measure_headline_matching()`, run by `make bench`.

It stores `stored` synthetic headlines in a real SQLite file with their dedup
signatures, then checks `new` headlines against them the way ingest does
(normalize, look up candidates by signature, decide on each) and compares the
time with an exact in-memory dictionary lookup of the normalized key (what a
plain "same key" dedup costs). Half the new headlines are other forms of
stored ones (labels, source names, words added, clauses reordered), half are
new stories.

Run it alone: python -m echofeed.dedup_bench [STORED [NEW]]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import dedup
from .store import Store

_SUBJECTS = (
    "Senate", "Mayor", "Police", "Court", "Union", "Airline", "Minister", "Council", "Rebels",
    "Farmers", "Regulator", "Hospital", "Team", "Central bank", "Army", "Teachers", "Governor",
    "Prosecutors", "Parliament", "Startup", "Carmaker", "Retailer", "Doctors", "Students",
    "Insurers", "Pilots", "Miners", "Regulators", "Investors", "Voters",
)  # fmt: skip
_VERBS = (
    "approves", "rejects", "probes", "delays", "backs", "blocks", "unveils", "halts", "extends",
    "drops", "reviews", "defends", "targets", "expands", "ends", "questions", "revives",
    "challenges", "speeds up", "scraps", "weighs", "signs", "tests", "slashes", "funds",
)  # fmt: skip
_OBJECTS = (
    "budget", "merger", "strike", "tax", "plan", "deal", "ban", "rules", "inquiry", "reform",
    "subsidy", "contract", "talks", "tariffs", "pension law", "housing scheme", "rail project",
    "water plan", "wage deal", "port expansion", "school funding", "drug pricing", "data law",
)  # fmt: skip
_PLACES = (
    "Ohio", "Lyon", "Kenya", "Quebec", "Bavaria", "Osaka", "Chile", "Texas", "Wales", "Punjab",
    "Sicily", "Alberta", "Ghana", "Peru", "Norway", "Gdansk", "Porto", "Busan", "Tasmania",
    "Nairobi", "Lagos", "Seville", "Utrecht", "Leipzig", "Cork", "Malmo", "Tbilisi", "Quito",
)  # fmt: skip
_TAILS = ("officials say", "sources say", "report says", "police say")


def synthetic_headline(rng: random.Random) -> str:
    return (
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} in "
        f"{rng.choice(_PLACES)} as {rng.randint(2, 99_999):,} complaints pile up"
    )


def other_form(headline: str, rng: random.Random) -> str:
    """The same story as another source would title it."""
    main_clause, _, side_clause = headline.partition(" as ")
    forms = (
        f"BREAKING: {headline} - Example Wire",
        f"{headline.upper()} | Daily Paper",
        f"{headline}, {rng.choice(_TAILS)}",
        f"Exclusive: the {headline.replace(',', '')} (Updated)",
        f"{side_clause} as {main_clause}",
    )
    return rng.choice(forms)


@dataclass(frozen=True, slots=True)
class MatchingBench:
    stored: int
    checked: int
    matched: int
    candidates: int  # candidates decided on, over all checked headlines
    index_seconds: float  # check `checked` headlines through the signature index
    exact_seconds: float  # the same headlines, exact normalized-key dict lookup

    @property
    def ratio(self) -> float:
        return self.index_seconds / self.exact_seconds

    def summary(self) -> str:
        per = 1e6 / self.checked
        return (
            f"headline dedup: {self.checked:,} new vs {self.stored:,} stored: "
            f"signature index {self.index_seconds * per:.0f} us/headline "
            f"({self.candidates / self.checked:.2f} candidates each, {self.matched:,} matched), "
            f"exact dict lookup {self.exact_seconds * per:.0f} us/headline: "
            f"ratio {self.ratio:.1f}x"
        )


def measure_headline_matching(
    stored: int = 100_000, new: int = 1_000, workdir: Path | None = None
) -> MatchingBench:
    """Time checking `new` headlines against `stored` ones; see the module docstring."""
    rng = random.Random(20261125)
    unique: dict[str, None] = {}
    while len(unique) < stored:
        unique[synthetic_headline(rng)] = None
    headlines = list(unique)
    probes = [
        other_form(rng.choice(headlines), rng) if i % 2 else synthetic_headline(rng)
        for i in range(new)
    ]
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        with Store(Path(folder) / "bench.db") as store:
            rows = []
            exact: dict[str, str] = {}
            for i, headline in enumerate(headlines):
                norm = dedup.normalize(headline)
                rows.append((f"feed:{i}", headline, norm.key, dedup.signatures(norm)))
                exact.setdefault(norm.key, f"feed:{i}")
            store.load_headlines(rows, datetime.now(UTC))
            started = time.perf_counter()
            matched = candidates = 0
            for headline in probes:
                norm = dedup.normalize(headline)
                found = store.find_record(dedup.probe_signatures(norm), exclude_key="")
                candidates += len(found)
                for candidate in found:
                    if dedup.decide(norm, dedup.normalize(candidate.headline)).same:
                        matched += 1
                        break
            index_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for headline in probes:
        exact.get(dedup.headline_key(headline))
    exact_seconds = time.perf_counter() - started
    return MatchingBench(len(headlines), new, matched, candidates, index_seconds, exact_seconds)


if __name__ == "__main__":
    counts = [int(arg) for arg in sys.argv[1:3]]
    print(measure_headline_matching(*counts).summary())
