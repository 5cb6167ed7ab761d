"""Identification by national digital identity (issue 19): what a letter requires, and how the
proven identity is matched with the expected one.

A sender asks, per letter, for `sms-otp` (the one-time code, as always), `eid` (national digital
identity through an OpenID Connect provider) or `sms-otp+eid` (the code, then the identity), and may
name the identity expected: CIN, name, birth date.  The recipient's trip to the provider, and the
evidence of each outcome, are `letters.eid_flow`'s.

**Matching rule** (README, "Identification by national digital identity"):

- CIN: upper case, without spaces, dashes, dots or slashes, Arabic-Indic digits read as digits; equal.
- Name: the expected name must match the proven given and family names, in either order.  Both are
  folded (accents dropped, case ignored, Arabic short vowels and tatweel dropped, hamza forms
  unified, the article `al`/`el`/`ال` dropped); then either the folded words are the same, or their
  consonant skeletons are: Arabic is transliterated letter by letter, Latin digraphs (`kh`, `gh`,
  `ch`/`sh`, `dj`, `ou`, `th`) read as the Arabic letter they write, vowels, the weak letters
  `h w y` and `ع` dropped, doubled letters counted once.  So `Youssef El Amrani`, `YOUSSEF EL-AMRANI`
  and `يوسف العمراني` match; an article glued to the name (`Elamrani`) is not recognised.
- Birth date: the same day.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from webapp.config import IdentityProvider, Settings
from webapp.extensions import DbSession
from webapp.letters.errors import InvalidInput, LetterError
from webapp.models import IdentificationMethod, Letter, LetterIdentity

# --- errors ------------------------------------------------------------------------------------


class EidNotRequired(LetterError):
    """This letter does not ask for national digital identity."""

    code = "eid_not_required"


# --- the requirement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityRequirement:
    """The identification a sender asks for, checked and minimised: what `LetterIdentity` stores."""

    method: IdentificationMethod
    cin_hmac: str | None = None
    cin_masked: str | None = None
    name: str | None = None
    birth_date: date | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "method": self.method.value,
                "cin_hmac": self.cin_hmac,
                "cin_masked": self.cin_masked,
                "name": self.name,
                "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> IdentityRequirement:
        data = json.loads(raw)
        return cls(
            method=IdentificationMethod(data["method"]),
            cin_hmac=data.get("cin_hmac"),
            cin_masked=data.get("cin_masked"),
            name=data.get("name"),
            birth_date=date.fromisoformat(data["birth_date"]) if data.get("birth_date") else None,
        )

    def facts(self) -> dict[str, Any]:
        """As the deposit's evidence record states it: the method and what is expected, the CIN minimised."""
        expected: dict[str, Any] = {}
        if self.cin_hmac:
            expected["cin"] = {"masked": self.cin_masked, "hmac_sha256": self.cin_hmac}
        if self.name:
            expected["name"] = self.name
        if self.birth_date:
            expected["birth_date"] = self.birth_date.isoformat()
        return {"method": self.method.value, **({"expected": expected} if expected else {})}


def normalise_cin(raw: str | None) -> str | None:
    """`ab 123-456` → `AB123456`; Arabic-Indic digits read as digits; None if it cannot be an identity number."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip().upper()
    text = "".join(str(unicodedata.digit(ch)) if ch.isdecimal() else ch for ch in text)
    compact = re.sub(r"[\s\-./]", "", text)
    if not re.fullmatch(r"[A-Z0-9]{4,20}", compact):
        return None
    return compact


def cin_hmac(cin: str, settings: Settings) -> str:
    """The keyed hash a CIN is kept as: comparable, but not reversible by trying every number without our key."""
    key = hmac.new(settings.secret_key.encode(), b"wassit/eid/cin/v1", hashlib.sha256).digest()
    return hmac.new(key, cin.encode(), hashlib.sha256).hexdigest()


def mask_cin(cin: str) -> str:
    """`AB123456` → `AB••••56`: enough for its holder to recognise it, not enough to learn it."""
    if len(cin) <= 4:
        return "••••"
    return cin[:2] + "•" * (len(cin) - 4) + cin[-2:]


def clean_requirement(
    settings: Settings,
    method: str | None,
    *,
    cin: str | None = None,
    name: str | None = None,
    birth_date: str | date | None = None,
) -> IdentityRequirement | None:
    """Checks what a sender asks (portal, API, bulk row); None for the code alone with nothing expected."""
    raw_method = (method or IdentificationMethod.SMS_OTP.value).strip().lower()
    try:
        chosen = IdentificationMethod(raw_method)
    except ValueError:
        methods = ", ".join(m.value for m in IdentificationMethod)
        raise InvalidInput(f"The identification must be one of {methods}.", field="identification") from None
    cin_value = None
    if cin is not None and cin.strip():
        cin_value = normalise_cin(cin)
        if cin_value is None:
            raise InvalidInput("The expected identity number must be 4 to 20 letters and digits.", field="expected_cin")
    name_value = re.sub(r"\s+", " ", unicodedata.normalize("NFC", name or "")).strip() or None
    if name_value is not None and (
        len(name_value) > 200 or any(unicodedata.category(ch)[0] == "C" for ch in name_value)
    ):
        raise InvalidInput("The expected name is not valid.", field="expected_name")
    birth = None
    if isinstance(birth_date, date):
        birth = birth_date
    elif birth_date is not None and birth_date.strip():
        try:
            birth = date.fromisoformat(birth_date.strip())
        except ValueError:
            raise InvalidInput("The expected birth date must read YYYY-MM-DD.", field="expected_birth_date") from None
        if not date(1900, 1, 1) <= birth <= datetime.now(UTC).date():
            raise InvalidInput("The expected birth date is not plausible.", field="expected_birth_date")
    expects = cin_value is not None or name_value is not None or birth is not None
    if "eid" in chosen.factors and not settings.identity_providers:
        raise InvalidInput(
            "Identification by national digital identity is not available: no identity provider is configured.",
            field="identification",
        )
    if expects and "eid" not in chosen.factors:
        raise InvalidInput(
            "An expected identity can only be checked with national digital identity (eid or sms-otp+eid).",
            field="identification",
        )
    if chosen is IdentificationMethod.SMS_OTP:
        return None
    return IdentityRequirement(
        method=chosen,
        cin_hmac=cin_hmac(cin_value, settings) if cin_value else None,
        cin_masked=mask_cin(cin_value) if cin_value else None,
        name=name_value,
        birth_date=birth,
    )


def store_requirement(session: DbSession, letter: Letter, requirement: IdentityRequirement | None) -> None:
    """Called by the deposit, in its transaction."""
    if requirement is None:
        return
    session.add(
        LetterIdentity(
            letter_id=letter.id,
            method=requirement.method,
            expected_cin_hmac=requirement.cin_hmac,
            expected_cin_masked=requirement.cin_masked,
            expected_name=requirement.name,
            expected_birth_date=requirement.birth_date,
            eid_failures=0,
        )
    )


def identity_of(session: DbSession, letter: Letter) -> LetterIdentity | None:
    return session.get(LetterIdentity, letter.id)


def method_of(session: DbSession, letter: Letter) -> IdentificationMethod:
    """The identification the letter requires: `sms-otp` unless its sender asked for more."""
    identity = identity_of(session, letter)
    return identity.method if identity is not None else IdentificationMethod.SMS_OTP


def required_factors(session: DbSession, letter: Letter) -> frozenset[str]:
    return method_of(session, letter).factors


# --- matching ----------------------------------------------------------------------------------

_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640\u06d6-\u06ed]")  # short vowels, tatweel, Quranic marks
_ARABIC_UNIFY = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ؤ": "و", "ئ": "ي", "ة": "ه"})
# Arabic letters as the consonant skeleton writes them (weak letters and ع are dropped later).
_ARABIC_TO_LATIN = {
    "ب": "b", "ت": "t", "ث": "t", "ج": "j", "ح": "h", "خ": "x", "د": "d", "ذ": "d", "ر": "r", "ز": "z",
    "س": "s", "ش": "c", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "g", "ف": "f", "ق": "k",
    "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "و": "w", "ي": "y", "ا": "a", "ء": "", "پ": "p",
    "ڤ": "v", "گ": "g", "ڭ": "g",
}  # fmt: skip
_LATIN_DIGRAPHS = (("kh", "x"), ("gh", "g"), ("ch", "c"), ("sh", "c"), ("dj", "j"), ("th", "t"), ("ou", "w"))
_ARTICLES = {"al", "el"}


def _fold(name: str) -> list[str]:
    """Words of a name, folded: no accents, no case, Arabic marks and hamza forms unified, no article."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFC", _ARABIC_MARKS.sub("", text)).translate(_ARABIC_UNIFY).casefold()
    words = []
    for word in re.split(r"[\s\-'’ʼ.,]+", text):
        if not word or word in _ARTICLES:
            continue
        if word.startswith("ال") and len(word) > 3:
            word = word[2:]
        words.append(word)
    return words


def _skeleton(words: list[str]) -> str:
    out = []
    for word in words:
        if any("\u0600" <= ch <= "\u06ff" for ch in word):
            latin = "".join(_ARABIC_TO_LATIN.get(ch, "") for ch in word)
        else:
            latin = "".join(ch for ch in word if ch.isascii() and ch.isalpha())
            for digraph, letter in _LATIN_DIGRAPHS:
                latin = latin.replace(digraph, letter)
            latin = latin.replace("q", "k").replace("c", "c")
        out.append(latin)
    consonants = re.sub(r"[aeiouyhw]", "", "".join(out))
    return re.sub(r"(.)\1+", r"\1", consonants)


def names_match(expected: str, given: str | None, family: str | None, full: str | None = None) -> bool:
    """The documented rule (module docstring): folded forms equal, or consonant skeletons equal, in either order."""
    wanted = _fold(expected)
    if not wanted:
        return False
    candidates = []
    if given or family:
        candidates += [_fold(f"{given or ''} {family or ''}"), _fold(f"{family or ''} {given or ''}")]
    if full:
        candidates.append(_fold(full))
    for words in candidates:
        if not words:
            continue
        if "".join(words) == "".join(wanted) or sorted(words) == sorted(wanted):
            return True
        skeleton = _skeleton(words)
        if skeleton and skeleton == _skeleton(wanted):
            return True
    return False


def _birth_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class ProvenClaims:
    cin: str | None
    given_name: str | None
    family_name: str | None
    name: str | None
    birth_date: date | None

    @classmethod
    def of(cls, provider: IdentityProvider, claims: dict[str, Any]) -> ProvenClaims:
        def text(key: str) -> str | None:
            value = claims.get(provider.claims[key])
            return value.strip() if isinstance(value, str) and value.strip() else None

        return cls(
            cin=normalise_cin(text("cin")),
            given_name=text("given_name"),
            family_name=text("family_name"),
            name=text("name"),
            birth_date=_birth_date(claims.get(provider.claims["birth_date"])),
        )


def mismatches(identity: LetterIdentity, proven: ProvenClaims, settings: Settings) -> list[str]:
    """The expected fields the proven identity does not match (a field the provider did not give fails)."""
    wrong = []
    if identity.expected_cin_hmac and not (
        proven.cin and hmac.compare_digest(cin_hmac(proven.cin, settings), identity.expected_cin_hmac)
    ):
        wrong.append("cin")
    if identity.expected_name and not names_match(
        identity.expected_name, proven.given_name, proven.family_name, proven.name
    ):
        wrong.append("name")
    if identity.expected_birth_date and proven.birth_date != identity.expected_birth_date:
        wrong.append("birth_date")
    return wrong
