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
# Pairs of words are indexed among a name's first words: "salma bennani" is one key, so that a search
# for two words is one ordered index range even when each word alone is common and the pair rare.
MAX_PAIR_WORDS = 4
MAX_KEY_LENGTH = 2 * MAX_WORD_LENGTH + 1


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


def word_pair(first: str, second: str) -> str:
    """The index key of two words of a name, in any order ("bennani salma")."""
    return " ".join(sorted((first, second)))


def name_keys(text: str | None) -> list[str]:
    """What a name is indexed under: each of its words, and each pair of its first words."""
    words = name_words(text)
    head = words[:MAX_PAIR_WORDS]
    pairs = [word_pair(a, b) for i, a in enumerate(head) for b in head[i + 1 :]]
    return words + sorted(set(pairs))
