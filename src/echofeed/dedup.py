"""Which headlines tell the same story (pure: strings in, keys and verdicts out).

Two steps, both conservative, because a wrong merge (a story that silently
vanishes) is worse than a missed one:

1. `normalize()` folds what differs in form only: HTML entities (only
   `;`-terminated, names in any case) and tags, zero-width and non-breaking
   characters, Unicode forms (NFKC, full-width letters), accents and other
   combining marks, case, quote and dash styles, punctuation and a trailing
   full stop; a source name before or after (`X - Wire`, `X | Paper`,
   `Wire: X`); editorial labels (`BREAKING:`, `Exclusive:`, `Live:`,
   `(Updated)`, `- update 2`); thousands separators (`10,000`); `&`/`and`;
   `U.S.`/`US`/`United States`, `U.N.`/`UN`/`United Nations`, `U.K.`, `E.U.`;
   hyphenation (`Cease-Fire`/`Ceasefire`); number words (`three`/`3`,
   `first`/`1st`); the articles a/an/the; inflections (a light stemmer of
   our own: `searching`/`searches`/`searched`/`search`, never derivations).
   Word order is kept.
2. `decide()` says whether two normalized headlines are the same story:
   - never when either is too short or generic (fewer than 3 words that are
     not stop words or generic words such as "live", "updates", "news");
   - yes when the normalized forms are equal (rule `same-form`);
   - yes when they are the same clauses in another order, clauses being cut
     at `, ; :`, a spaced dash and the words "as", "while", "amid"; each
     clause must match word for word, so `A beat B` never matches `B beat A`
     (rule `clauses-reordered`);
   - yes when one is the other plus a clause of at most 4 words at the end
     (after `,` `;` `:`, a spaced dash, "as", "while" or "amid"), the shared
     part having at least 4 content words, the added words holding no number,
     ordinal, negation, direction or opposite verb, and being an attribution:
     only attribution, stop or generic words (", officials say"), or ending
     in a verb of saying (", Pentagon says"), or "according to ..."
     (rule `words-added-at-end`);
   - otherwise no, and the verdict names what differs (a number, an ordinal,
     a negation, a direction or opposite verb, the order of the same words,
     or other words).

A headline that differs in a number, name, place, direction, negation,
opposite verb or ordinal, or swaps who did what to whom, has another
normalized form and is no clause reordering or tail of the other: it is kept
apart by construction, not by a list that could miss a case.

Blocking: `signatures()` gives the keys under which a stored headline is
filed, `probe_signatures()` the keys a new headline looks up. Every pair that
`decide()` can accept shares one (equal forms share the form, reordered
clauses share the sorted words, a headline plus a tail shares the shorter
form), so matching against many stored headlines looks up a handful of
index keys and decides on the few candidates found, never a scan of all pairs.
"""

from __future__ import annotations

import hashlib
import html
import html.entities
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# Bump when the rules change: stored keys and signatures are then recomputed.
RULES_VERSION = 2
MIN_CONTENT_WORDS = 3  # fewer: too short or generic to merge on the headline alone
MIN_SHARED_FOR_TAIL = 4  # the shared part of `X` and `X + tail`, in content words
MAX_TAIL_WORDS = 4

_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f"), None)
_QUOTES = dict.fromkeys(map(ord, "\"'`\u00ab\u00bb\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f"
                             "\u2039\u203a\u2032\u2033"), None)  # fmt: skip

# Editorial labels, matched case-insensitively before or after the headline.
_LABEL = (
    r"(?:breaking(?:\s+news)?|exclusive|live(?:\s+updates?)?|updated?(?:\s*\d+)?|developing"
    r"|just\s+in|urgent|flash|watch|video|photos?|corrected|correction|analysis|explainer"
    r"|factbox)"
)
_LABEL_PREFIX = re.compile(rf"^\s*{_LABEL}\s*(?::|\||-\s)\s*", re.IGNORECASE)
_LABEL_SUFFIX = re.compile(
    rf"\s*(?:[(\[]\s*{_LABEL}\s*[)\]]|(?:\s-|\||:)\s*{_LABEL})\s*\.?\s*$", re.IGNORECASE
)
# A segment after " | " is a site name when it is short, capitalized and holds no digit.
_PIPE_SUFFIX = re.compile(r"\s+\|\s+([^|\d]{1,60})$")
_DASH_SUFFIX = re.compile(r"\s+-\s+([^-]{1,60})$")
_COLON_PREFIX = re.compile(r"^([^:]{1,60}):\s+")
# The last word of a typical publication name ("Example Wire", "Daily Paper").
_OUTLET_WORDS = frozenset(
    "wire news times post paper journal herald tribune press daily guardian telegraph gazette "
    "chronicle observer reporter review today online independent standard star sun mail "
    "express mirror globe record dispatch courier bulletin inquirer examiner register "
    "reuters ap afp bbc cnn npr bloomberg aljazeera dpa upi pti xinhua tass echo".split()
)

_ABBREVIATIONS = (
    (re.compile(r"\bU\.\s?S\.(?:\s?A\.)?|\bUSA?\b"), " usa "),
    (re.compile(r"\bUnited\s+States(?:\s+of\s+America)?\b", re.IGNORECASE), " usa "),
    (re.compile(r"\bU\.\s?N\.|\bUN\b|\bUnited\s+Nations\b"), " unorg "),
    (re.compile(r"\bunited\s+nations\b", re.IGNORECASE), " unorg "),
    (re.compile(r"\bU\.\s?K\.|\bUK\b|\bUnited\s+Kingdom\b"), " uk "),
    (re.compile(r"\bunited\s+kingdom\b", re.IGNORECASE), " uk "),
    (re.compile(r"\bE\.\s?U\.|\bEU\b|\bEuropean\s+Union\b"), " eu "),
    (re.compile(r"\beuropean\s+union\b", re.IGNORECASE), " eu "),
)
_THOUSANDS = re.compile(r"(?<=\d)[,\u2009\u202f](?=\d{3}(?!\d))")
_LETTER_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
_CLAUSE_PUNCT = re.compile(r"[,;:]|\s-\s|^-\s|\s-$")
_TOKEN = re.compile(r"\d+(?:\.\d+)*(?i:st|nd|rd|th)?|[^\W\d_]+|\d\w*|\|")

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
}
_ORDINAL_WORDS = {
    w: f"{i}{'st' if i == 1 else 'nd' if i == 2 else 'rd' if i == 3 else 'th'}"
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth".split(), start=1
    )
}
_ARTICLES = frozenset({"a", "an", "the"})
_CLAUSE_WORDS = frozenset({"as", "while", "amid"})
# Words whose final "s" is no plural ending.
_KEEP_S = frozenset(
    "news series species politics economics physics always perhaps various famous whereas "
    "across thus plus bus gas yes this his has was does less unless".split()
)
_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Fold inflections only: plural and third person -s/-es/-ies, -ed, -ing, final -e.

    Derivations are left alone on purpose: a full stemmer (Porter, Snowball)
    makes one word of organization/organizer, execution/executive or
    university/universe, which would merge different stories.
    """
    if not word.isalpha() or len(word) <= 3 or word in _KEEP_S:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) >= 6 and _VOWELS & set(word[:-3]):
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 5 and _VOWELS & set(word[:-2]):
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) > 3 and not word.endswith("ee"):
        word = word[:-1]
    return word


def _undouble(stem: str) -> str:
    # stopped -> stopp -> stop; but not fall -> fal or miss -> mis
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz" + "aeiou":
        return stem[:-1]
    return stem


def _words(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in text.split())


_STOP = _words(
    "a an the of in on at to for by with from and or as is are was were be been it its this "
    "that into over after amid while about than"
)
_GENERIC = _words(
    "live updates latest news breaking headlines briefing today tonight morning evening "
    "night week weekly daily digest roundup round up what you need know happening now top "
    "stories story review photos video pictures watch opinion letters editor podcast "
    "newsletter quiz crossword weather forecast highlights minutes here how"
)
_NEGATIONS = _words(
    "not no never without nor dont doesnt didnt isnt arent wasnt werent wont cant cannot "
    "couldnt shouldnt wouldnt hasnt havent hadnt denies deny refuses fails"
)
_OPPOSITES = tuple(
    (_stem(a), _stem(b))
    for a, b in (
        ("up", "down"), ("rises", "falls"), ("rises", "drops"), ("rises", "declines"),
        ("increases", "decreases"), ("gains", "loses"), ("gains", "losses"), ("high", "low"),
        ("higher", "lower"), ("more", "less"), ("more", "fewer"), ("wins", "loses"),
        ("wins", "loss"), ("beats", "loses"), ("approves", "rejects"), ("accepts", "rejects"),
        ("passes", "rejects"), ("passes", "fails"), ("upholds", "overturns"),
        ("backs", "opposes"), ("supports", "opposes"), ("opens", "closes"), ("starts", "ends"),
        ("begins", "ends"), ("raises", "cuts"), ("raises", "lowers"), ("hikes", "cuts"),
        ("hires", "fires"), ("bans", "allows"), ("bans", "lifts"), ("joins", "leaves"),
        ("joins", "quits"), ("enters", "exits"), ("arrests", "releases"),
        ("convicts", "acquits"), ("guilty", "innocent"), ("surges", "slumps"),
        ("soars", "plunges"), ("expands", "shrinks"), ("boosts", "cuts"), ("adds", "cuts"),
        ("buys", "sells"), ("imports", "exports"), ("north", "south"), ("east", "west"),
        ("before", "after"), ("resigns", "appoints"), ("elects", "defeats"),
        ("confirms", "denies"), ("lifts", "imposes"), ("ceasefire", "war"), ("peace", "war"),
        ("lives", "dies"), ("found", "missing"),
    )
)  # fmt: skip
_OPPOSITE_OF: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE_OF.setdefault(_a, set()).add(_b)
    _OPPOSITE_OF.setdefault(_b, set()).add(_a)
_DIRECTIONS = _words(
    "up down rises falls drops declines increases decreases high low higher lower more less "
    "fewer surges slumps soars plunges north south east west"
)
# Words that may end a headline copy without adding a fact: attributions.
_SPEECH = _words("says said tells told reports claims warns shows finds found suggests reveals")
_ATTRIBUTION = _SPEECH | _words(
    "according sources officials police authorities ministers ministry government spokesman "
    "spokeswoman spokesperson analysts experts investigators witnesses residents data study "
    "studies poll"
)


@dataclass(frozen=True, slots=True)
class Normalized:
    """A headline reduced to what its meaning depends on."""

    headline: str  # as given
    text: str  # without labels and source names, before folding
    tokens: tuple[str, ...]  # normalized words, in order
    clauses: tuple[tuple[str, ...], ...]  # the same words, cut into clauses
    clause_starts: frozenset[int]  # positions in `tokens` where a clause begins

    @property
    def key(self) -> str:
        return " ".join(self.tokens)

    @property
    def content_words(self) -> int:
        return sum(1 for t in self.tokens if t not in _STOP and t not in _GENERIC)

    @property
    def too_short(self) -> bool:
        return self.content_words < MIN_CONTENT_WORDS


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether two headlines are one story, and the rule that decided."""

    same: bool
    rule: str
    reason: str


def _name_like(segment: str) -> bool:
    """At most 5 words, each capitalized (or not a word): a site name after " | "."""
    words = segment.split()
    return 0 < len(words) <= 5 and all(w[0].isupper() or not w[0].isalpha() for w in words)


def _outlet_like(segment: str, publishers: frozenset[str]) -> bool:
    """Does `segment` look like a publication's name (not part of the story)?"""
    text = " ".join(segment.split()).strip(" .")
    if not text or any(c.isdigit() for c in text):
        return False
    if text.casefold() in publishers:
        return True
    if not _name_like(text):
        return False
    return _fold(text.split()[-1]).strip(".") in _OUTLET_WORDS or (
        _fold(text).replace(" ", "") in _OUTLET_WORDS
    )


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=64)
def _folded_names(publishers: tuple[str, ...]) -> frozenset[str]:
    # Cached: the pipeline passes every configured source's name with each headline,
    # and folding 200 names per headline was a fifth of a first ingest's main thread.
    return frozenset(" ".join(p.split()).casefold() for p in publishers if p.strip())


def strip_labels(headline: str, publishers: Iterable[str] = ()) -> str:
    """The headline without editorial labels and source names around it."""
    names = _folded_names(tuple(publishers))
    text = headline
    while True:
        before = text
        text = _LABEL_PREFIX.sub("", text)
        text = _LABEL_SUFFIX.sub("", text)
        if (
            (m := _PIPE_SUFFIX.search(text))
            and len(text[: m.start()].split()) >= 3
            and _name_like(m.group(1))
        ):
            text = text[: m.start()]
        if (m := _DASH_SUFFIX.search(text)) and _outlet_like(m.group(1), names):
            text = text[: m.start()]
        if (m := _COLON_PREFIX.match(text)) and _outlet_like(m.group(1), names):
            text = text[m.end() :]
        if text == before or not text.strip():
            return before if not text.strip() else text


# Only well-formed entities, ending in ";": a headline is plain text by the time it
# gets here, so "AT&T", "Q&A" or "Fish &not chips" are what they say (html.unescape
# would also decode HTML5's legacy names without ";", such as "&not" or "&copy").
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


@lru_cache(maxsize=1)
def _entities_by_folded_name() -> dict[str, str]:
    # Case-insensitive on purpose: "&EACUTE;" is no HTML entity but must give the key of
    # "&eacute;", or the same headline in capitals is another story. The lower-case
    # name wins where two differ only in case (&Eacute; and &eacute;: folded alike anyway).
    table: dict[str, str] = {}
    for name, char in sorted(html.entities.html5.items(), key=lambda item: item[0].islower()):
        if name.endswith(";"):
            table[name[:-1].lower()] = char
    return table


def _unescape(text: str) -> str:
    def decode(match: re.Match[str]) -> str:
        entity = match.group()
        if entity[1] == "#":
            return html.unescape(entity)
        return _entities_by_folded_name().get(entity[1:-1].lower(), entity)

    return _ENTITY.sub(decode, text) if "&" in text else text


def _without_marks(text: str) -> str:
    """Combining marks dropped (keys drop accents anyway), before words are cut:
    "İstanbul".lower() is "i" + U+0307, which no precomposed letter holds, and a mark is
    no word character, so it would cut "i stanbul" where "İstanbul" stays whole."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _clean(headline: str) -> str:
    # NFKC before entities too: a compatibility letter (the Kelvin sign) in an entity's
    # name must read as the ASCII letter it stands for, whatever its case.
    text = unicodedata.normalize("NFKC", headline)
    text = _TAG.sub(" ", _unescape(_TAG.sub(" ", text)))
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    if not text.isascii():
        # Every dash style becomes "-"; a spaced one separates, an unspaced one joins.
        text = "".join("-" if unicodedata.category(c) == "Pd" or c == "\u2212" else c for c in text)
        text = "".join(" " if unicodedata.category(c)[0] == "Z" else c for c in text)
    return " ".join(text.translate(_QUOTES).split())


def normalize(headline: str, publishers: Iterable[str] = ()) -> Normalized:
    """Fold everything in `headline` that is form only (see the module docstring)."""
    text = strip_labels(_clean(headline), publishers)
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    text = _without_marks(text)  # after the abbreviations: "ÙN" is no "UN"
    text = text.replace("&", " and ").replace("%", " percent ").replace("+", " plus ")
    text = _THOUSANDS.sub("", text)
    text = _LETTER_HYPHEN.sub("", text)
    text = _CLAUSE_PUNCT.sub(" | ", text)
    tokens: list[str] = []
    clause_starts: set[int] = {0}
    clauses: list[tuple[str, ...]] = []
    current: list[str] = []
    at_clause_start = True
    for raw in _TOKEN.findall(text):
        if raw == "|":
            at_clause_start = True
            if current:
                clauses.append(tuple(current))
                current = []
            continue
        word = _fold(raw)
        if "." in word and not re.fullmatch(r"\d+(?:\.\d+)*", word):
            word = word.replace(".", "")
        word = _NUMBER_WORDS.get(word) or _ORDINAL_WORDS.get(word) or word
        if word in _ARTICLES:
            continue
        if word in _CLAUSE_WORDS and current:
            clauses.append(tuple(current))
            current = []
            clause_starts.add(len(tokens))
            tokens.append(word)
            at_clause_start = True
            continue
        if at_clause_start:
            clause_starts.add(len(tokens))
        at_clause_start = False
        stem = _stem(word)
        tokens.append(stem)
        current.append(stem)
    if current:
        clauses.append(tuple(current))
    return Normalized(headline, text, tuple(tokens), tuple(clauses), frozenset(clause_starts))


def headline_key(headline: str, publishers: Iterable[str] = ()) -> str:
    """The normalized form: equal keys are always the same story (if not too short)."""
    return normalize(headline, publishers).key


def _signature(kind: str, text: str) -> str:
    return kind + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _tail_prefixes(norm: Normalized) -> list[str]:
    n = len(norm.tokens)
    return [" ".join(norm.tokens[:k]) for k in range(max(1, n - MAX_TAIL_WORDS), n)]


def _sorted_words(norm: Normalized) -> str:
    return " ".join(sorted(t for clause in norm.clauses for t in clause))


def signatures(norm: Normalized) -> tuple[str, ...]:
    """The index keys a stored headline is filed under (none when it never merges)."""
    if norm.too_short:
        return ()
    sigs = {_signature("k", norm.key), _signature("s", _sorted_words(norm))}
    sigs.update(_signature("p", prefix) for prefix in _tail_prefixes(norm))
    return tuple(sorted(sigs))


def probe_signatures(norm: Normalized) -> tuple[str, ...]:
    """The index keys to look up for a new headline: every possible match shares one."""
    if norm.too_short:
        return ()
    sigs = {
        _signature("k", norm.key),  # same form
        _signature("s", _sorted_words(norm)),  # clauses reordered
        _signature("p", norm.key),  # a stored headline is this one plus a tail
    }
    sigs.update(_signature("k", prefix) for prefix in _tail_prefixes(norm))  # ...or minus one
    return tuple(sorted(sigs))


def decide(a: Normalized, b: Normalized) -> Verdict:
    """Are `a` and `b` the same story? Conservative: when unsure, no."""
    for norm in (a, b):
        if norm.too_short:
            return Verdict(
                False, "too-short-or-generic",
                f"{norm.headline!r} has {norm.content_words} content word(s); "
                f"at least {MIN_CONTENT_WORDS} are needed to merge on a headline",
            )  # fmt: skip
    if a.tokens == b.tokens:
        return Verdict(True, "same-form", "the normalized headlines are equal")
    if len(a.clauses) > 1 and Counter(a.clauses) == Counter(b.clauses):
        return Verdict(True, "clauses-reordered", "the same clauses in another order")
    short, long = (a, b) if len(a.tokens) < len(b.tokens) else (b, a)
    if long.tokens[: len(short.tokens)] == short.tokens:
        tail_verdict = _judge_tail(short, long)
        if tail_verdict is not None:
            return tail_verdict
    return _explain_difference(a, b)


def _judge_tail(short: Normalized, long: Normalized) -> Verdict | None:
    start = len(short.tokens)
    tail = long.tokens[start:]
    words = " ".join(tail)
    if len(tail) > MAX_TAIL_WORDS:
        return Verdict(False, "too-much-added", f"{len(tail)} words added at the end ({words!r}); "
                       f"at most {MAX_TAIL_WORDS} are accepted")  # fmt: skip
    if short.content_words < MIN_SHARED_FOR_TAIL:
        return Verdict(False, "too-little-shared", f"words added at the end ({words!r}) to a "
                       f"headline of only {short.content_words} content words")  # fmt: skip
    if start not in long.clause_starts:
        return Verdict(False, "added-to-last-phrase", f"the words added at the end ({words!r}) "
                       "continue the last phrase instead of adding a clause")  # fmt: skip
    for token in tail:
        problem = _fact_kind(token)
        if problem:
            return Verdict(False, f"added-{problem}", f"the words added at the end ({words!r}) "
                           f"hold a {problem}: {token!r}")  # fmt: skip
    plain = all(t in _ATTRIBUTION or t in _STOP or t in _GENERIC for t in tail)
    attributed = tail[-1] in _SPEECH or tail[0] == _stem("according")
    if not (plain or attributed):
        return Verdict(False, "added-fact", f"the words added at the end ({words!r}) may be "
                       "news of their own; only an attribution is accepted")  # fmt: skip
    return Verdict(True, "words-added-at-end", f"the same headline with {words!r} added")


def _fact_kind(token: str) -> str | None:
    if re.fullmatch(r"\d+(?:st|nd|rd|th)", token):
        return "ordinal"
    if any(c.isdigit() for c in token):
        return "number"
    if token in _NEGATIONS:
        return "negation"
    if token in _DIRECTIONS:
        return "direction"
    if token in _OPPOSITE_OF:
        return "verb of opposite meaning"
    return None


def _explain_difference(a: Normalized, b: Normalized) -> Verdict:
    only_a = Counter(a.tokens) - Counter(b.tokens)
    only_b = Counter(b.tokens) - Counter(a.tokens)
    if not only_a and not only_b:
        return Verdict(False, "order-differs", "the same words in another order around the verb "
                       "(who did what to whom)")  # fmt: skip
    for x in only_a:
        for y in only_b:
            if y in _OPPOSITE_OF.get(x, ()):
                kind = "direction" if x in _DIRECTIONS or y in _DIRECTIONS else "opposite"
                return Verdict(False, f"differs-{kind}", f"{x!r} vs {y!r}")
    diff = [*only_a, *only_b]
    for kind, test in (
        ("ordinal", lambda t: _fact_kind(t) == "ordinal"),
        ("number", lambda t: _fact_kind(t) == "number"),
        ("negation", lambda t: t in _NEGATIONS),
    ):
        hits = [t for t in diff if test(t)]
        if hits:
            return Verdict(False, f"differs-{kind}", f"{kind}: {', '.join(map(repr, hits))}")
    return Verdict(False, "different-words", f"words only in A: {sorted(only_a)}, "
                   f"only in B: {sorted(only_b)}")  # fmt: skip


def explain(headline_a: str, headline_b: str, publishers: Iterable[str] = ()) -> str:
    """A few lines for an editor: both normalized forms, the verdict and its rule."""
    names = tuple(publishers)
    a, b = normalize(headline_a, names), normalize(headline_b, names)
    verdict = decide(a, b)
    return "\n".join([
        f"A: {a.headline}",
        f"   normalized: {a.key}",
        f"B: {b.headline}",
        f"   normalized: {b.key}",
        f"verdict: {'same story' if verdict.same else 'different stories'}",
        f"rule: {verdict.rule}: {verdict.reason}",
    ])  # fmt: skip
