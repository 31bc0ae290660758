"""Which headlines tell the same story: a normalized headline key (pure).

Two entries are the same story when their headline keys are equal. The key
folds what differs in form but not in meaning: case, accents and Unicode
forms (NFKC), HTML entities and tags, punctuation and quote styles, dashes,
white space of every kind, and a trailing full stop.
"""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def headline_key(headline: str) -> str:
    """The form two headlines of the same story share."""
    text = html.unescape(_TAG.sub(" ", headline)).translate(_INVISIBLE)
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    # Punctuation of every script (category P*) and symbols become word breaks.
    text = "".join(" " if unicodedata.category(c)[0] in "PSZ" else c for c in text)
    return " ".join(text.split())
