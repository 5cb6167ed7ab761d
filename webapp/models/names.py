"""How names are searched: folded to words, without accents or case, so that "Salma BENNANI",
"salma bennani" and "Salma Bennâni" are the same words.

Letters and organisations keep their names' words in indexed tables (`LetterNameWord`,
`OrganisationNameWord`), written with the row they come from, so that support finds a recipient
or a sender by a name or a part of it with index look-ups only, the same way on SQLite and
PostgreSQL (no extension, no full-text engine: see `webapp.support.search`).
"""

from __future__ import annotations

import unicodedata

MAX_WORD_LENGTH = 64
MAX_WORDS = 12


def fold_name(text: str | None) -> str:
    """The name without accents (and Arabic short vowels), case folded, with anything that is not a
    letter or a digit as a single space: "Ben-Âli  d'Oujda" → "ben ali d oujda"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    kept = []
    for char in decomposed:
        if unicodedata.combining(char) or char == "\u0640":  # accents, harakat, tatweel
            continue
        kept.append(char if char.isalnum() else " ")
    return " ".join(unicodedata.normalize("NFC", "".join(kept)).casefold().split())


def name_words(text: str | None) -> list[str]:
    """The distinct words of a folded name, in order, each cut to the indexed length."""
    words: list[str] = []
    for word in fold_name(text).split():
        word = word[:MAX_WORD_LENGTH]
        if word not in words:
            words.append(word)
    return words[:MAX_WORDS]
