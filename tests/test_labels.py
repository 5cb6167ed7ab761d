"""One home for what statuses, events and proofs are called (`webapp.labels`), in the Babel catalogs.

The pages' labels come from the `messages` catalogs through Flask-Babel; a proof's texts from the
`proofs` catalogs, read by Babel without an app.  Both are checked here against the catalogs as
Babel itself reads them, not against the module's own tables.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask, render_template_string

from webapp.i18n import LANGUAGES
from webapp.labels import (
    EVENT_LABELS,
    PROOF_EVENT_LABELS_BY_LANGUAGE,
    PROOF_EVENT_TEXTS,
    PROOF_KINDS,
    PROOF_LABELS,
    PROOF_STATEMENTS,
    PROOF_TEXTS,
    PROOF_TEXTS_BY_LANGUAGE,
    PROOF_TITLES,
    STATUS_LABELS,
    proof_event_labels,
    proof_texts,
)
from webapp.letters.states import Event, LetterStatus
from webapp.models import ProofKind
from webapp.trust.proofs import PROOF_EVENTS, SHOWN_EVENTS

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "webapp" / "translations"
TRANSLATED = ("fr", "ar")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _catalog(language: str, domain: str) -> Any:
    with (TRANSLATIONS / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as source:
        return read_po(source, locale=language, domain=domain)


def _proof_msgids_in_sources() -> set[str]:
    """What `make extract-messages` puts in the proofs catalogs: every `_p(...)` of the sources."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        str(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords={"_p": None}
        )
    }


# --- the proofs' catalogs ------------------------------------------------------------------------


def test_every_proof_text_is_in_the_template_and_translated_in_french_and_arabic() -> None:
    msgids = _proof_msgids_in_sources()
    assert len(msgids) > 60
    with (TRANSLATIONS / "proofs.pot").open("rb") as source:
        template = read_po(source)
    assert {str(m.id) for m in template if m.id} == msgids, "run `make extract-messages`"
    for language in TRANSLATED:
        catalog = _catalog(language, "proofs")
        assert not catalog.fuzzy
        assert {str(m.id) for m in catalog if m.id} == msgids, f"{language}: run `make extract-messages`"
        for message in catalog:
            if not message.id:
                continue
            assert message.string, f"{language}: untranslated {message.id!r}"
            assert not message.fuzzy, f"{language}: fuzzy {message.id!r}"
            # str.format placeholders: the same names, or the proof cannot be drawn.
            assert set(PLACEHOLDER.findall(message.string)) == set(PLACEHOLDER.findall(message.id)), message.id
        assert [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()] == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_proof_reads_its_texts_from_its_languages_catalog(language: str) -> None:
    catalog = _catalog(language, "proofs")
    texts = proof_texts(language)
    assert texts.keys() == PROOF_TEXTS.keys()
    for key, msgid in PROOF_TEXTS.items():
        assert texts[key] == catalog.get(msgid).string
    events = proof_event_labels(language)
    assert events == {event: catalog.get(msgid).string for event, msgid in PROOF_EVENT_TEXTS.items()}
    assert events["SubmissionAcceptance"] == {"fr": "Dépôt de la lettre", "ar": "إيداع الرسالة"}[language]


def test_english_proofs_are_the_msgids_and_other_languages_are_french() -> None:
    assert proof_texts("en") == PROOF_TEXTS
    assert proof_texts("de") == proof_texts("fr")
    assert proof_texts("fr")["title.deposit"] == "Preuve de dépôt"
    assert proof_texts("ar")["title.reception"] == "إثبات التسلم"
    assert dict(PROOF_TEXTS_BY_LANGUAGE["ar"]) == proof_texts("ar")
    assert dict(PROOF_EVENT_LABELS_BY_LANGUAGE["en"]) == proof_event_labels("en")
    assert list(PROOF_TEXTS_BY_LANGUAGE) == list(LANGUAGES)
    with pytest.raises(KeyError):
        PROOF_TEXTS_BY_LANGUAGE["de"]


def test_proofs_keep_their_own_wording_beside_the_pages() -> None:
    """The same English can read differently on a page and on a proof: two catalogs, two wordings."""
    messages = _catalog("fr", "messages")
    assert messages.get("Letter deposited").string == "Lettre déposée"
    assert proof_event_labels("fr")["SubmissionAcceptance"] == "Dépôt de la lettre"
    # A proof's French keeps its legal wording, straight apostrophes included.
    assert proof_texts("fr")["record_hash"] == "Empreinte de l'enregistrement"


# --- one list of kinds, statuses and events ----------------------------------------------------------


def test_every_kind_status_and_event_has_its_label() -> None:
    assert tuple(kind.value for kind in ProofKind) == PROOF_KINDS
    assert set(PROOF_LABELS) == set(ProofKind)
    assert set(PROOF_TITLES) == set(PROOF_STATEMENTS) == set(ProofKind) == set(PROOF_EVENTS)
    assert set(STATUS_LABELS) == {status.value for status in LetterStatus}
    assert set(EVENT_LABELS) == {event.value for event in Event}
    # A proof names every event it lists.
    assert set(SHOWN_EVENTS) <= set(proof_event_labels("fr"))


def test_pages_show_the_labels_in_the_pages_language(app: Flask) -> None:
    page = "{{ status_label('neglected') }}|{{ event_label('SubmissionAcceptance') }}|{{ proof_label('handover') }}"
    expected = {
        language: "|".join(
            _catalog(language, "messages").get(msgid).string
            for msgid in ("Not collected", "Letter deposited", "Proof of handover")
        )
        for language in TRANSLATED
    }
    expected["en"] = "Not collected|Letter deposited|Proof of handover"
    for language, text in expected.items():
        with app.test_request_context(f"/?lang={language}"):
            assert render_template_string(page) == text
    with app.test_request_context("/?lang=fr"):
        assert render_template_string("{{ event_label('SomethingNew') }}") == "SomethingNew"


# --- below the layers that use it --------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_labels_import_no_layer_above_them_and_the_renderer_no_flask() -> None:
    webapp = ROOT / "webapp"
    above = ("webapp.web", "webapp.letters", "webapp.trust", "webapp.accounts", "webapp.support")
    assert not [name for name in _imports(webapp / "labels.py") if name.startswith(above)]
    for renderer in ("proof_pdf.py", "pdf_layout.py"):
        imported = _imports(webapp / "trust" / renderer)
        assert not [name for name in imported if name.split(".")[0] in {"flask", "flask_babel", "sqlalchemy"}]
    assert not [name for name in _imports(webapp / "trust" / "pdf_layout.py") if name.startswith("webapp")]
