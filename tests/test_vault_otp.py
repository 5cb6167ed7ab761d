"""The vault's envelope encryption, one-time codes and link tokens."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from sqlalchemy import String, Text, select

from webapp import otp
from webapp.extensions import db
from webapp.letters.deposit import hash_token, new_link_token
from webapp.letters.recipient import request_code
from webapp.models import AccessLink, Letter, OneTimeCode
from webapp.services import current_services
from webapp.vault import Sealed, Vault, VaultError

MASTER = b"m" * 32
OTHER_MASTER = b"o" * 32


def _unwrap_data_key(master: bytes, sealed: Sealed) -> bytes:
    """The data key inside `sealed`, unwrapped the way the vault stores it (nonce + AES-GCM)."""
    return AESGCM(master).decrypt(sealed.wrapped_key[:12], sealed.wrapped_key[12:], b"wassit/data-key/v1")


# --- vault ---------------------------------------------------------------------------------------


def test_vault_round_trip() -> None:
    vault = Vault(MASTER)
    plaintext = b"%PDF-1.7 the letter's exact bytes \x00\xff"
    sealed = vault.encrypt(plaintext, context="document:letter-1")
    assert plaintext not in sealed.ciphertext
    assert vault.decrypt(sealed, context="document:letter-1") == plaintext


def test_vault_round_trip_of_empty_and_large_objects() -> None:
    vault = Vault(MASTER)
    for plaintext in (b"", bytes(range(256)) * 4096):
        assert vault.decrypt(vault.encrypt(plaintext, context="c"), context="c") == plaintext


def test_a_new_vault_with_the_same_master_key_decrypts() -> None:
    sealed = Vault(MASTER).encrypt(b"ten years later", context="document:x")
    assert Vault(MASTER).decrypt(sealed, context="document:x") == b"ten years later"


def test_each_encryption_uses_a_new_data_key_and_nonce() -> None:
    vault = Vault(MASTER)
    sealed = [vault.encrypt(b"same plaintext", context="document:same") for _ in range(5)]
    data_keys = {_unwrap_data_key(MASTER, s) for s in sealed}
    assert len(data_keys) == 5
    assert all(len(key) == 32 for key in data_keys)  # AES-256
    assert len({s.nonce for s in sealed}) == 5
    assert all(len(s.nonce) == 12 for s in sealed)
    assert len({s.wrapped_key for s in sealed}) == 5
    assert len({s.ciphertext for s in sealed}) == 5
    # The data key really is the one that encrypted the object.
    first = sealed[0]
    assert (
        AESGCM(_unwrap_data_key(MASTER, first)).decrypt(first.nonce, first.ciphertext, b"document:same")
        == b"same plaintext"
    )


def test_the_master_key_is_not_the_data_key() -> None:
    sealed = Vault(MASTER).encrypt(b"x", context="c")
    with pytest.raises(InvalidTag):
        AESGCM(MASTER).decrypt(sealed.nonce, sealed.ciphertext, b"c")


def test_wrong_context_fails() -> None:
    vault = Vault(MASTER)
    sealed = vault.encrypt(b"letter A's document", context="document:letter-a")
    with pytest.raises(VaultError):
        vault.decrypt(sealed, context="document:letter-b")
    with pytest.raises(VaultError):
        vault.decrypt(sealed, context="message-secret:letter-a")


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "wrapped_key"])
def test_tampered_data_fails(field: str) -> None:
    vault = Vault(MASTER)
    sealed = vault.encrypt(b"do not touch", context="c")
    value = bytearray(getattr(sealed, field))
    value[len(value) // 2] ^= 0x01
    with pytest.raises(VaultError):
        vault.decrypt(dataclasses.replace(sealed, **{field: bytes(value)}), context="c")


def test_truncated_ciphertext_fails() -> None:
    vault = Vault(MASTER)
    sealed = vault.encrypt(b"do not cut", context="c")
    with pytest.raises(VaultError):
        vault.decrypt(dataclasses.replace(sealed, ciphertext=sealed.ciphertext[:-1]), context="c")


def test_another_master_key_fails() -> None:
    sealed = Vault(MASTER).encrypt(b"secret", context="c")
    other = Vault(OTHER_MASTER)
    assert other.key_id != sealed.key_id
    with pytest.raises(VaultError):
        other.decrypt(sealed, context="c")
    # Even with the key id forged to match, the wrapped data key does not open.
    with pytest.raises(VaultError):
        other.decrypt(dataclasses.replace(sealed, key_id=other.key_id), context="c")


def test_master_key_must_be_32_bytes() -> None:
    for bad in (b"", b"k" * 16, b"k" * 31, b"k" * 33):
        with pytest.raises(ValueError, match="32 bytes"):
            Vault(bad)


def test_stored_documents_are_encrypted_and_bound_to_their_letter(
    app: Flask, deposit: Any, pdf: Callable[..., bytes]
) -> None:
    from webapp.models import StoredDocument

    document = pdf(pad_to=3000, text_marker="CONFIDENTIAL-MARKER")
    first = deposit(document=document).json["id"]
    second = deposit().json["id"]
    with app.app_context():
        vault = current_services().vault
        stored = db.session.get_one(StoredDocument, first)
        assert stored.ciphertext is None  # in the object store, not in the database
        ciphertext = current_services().objects.ciphertext(stored)
        assert b"CONFIDENTIAL-MARKER" not in ciphertext
        sealed = Sealed(stored.key_id, stored.wrapped_key, stored.nonce, ciphertext)
        assert vault.decrypt(sealed, context=f"document:{first}") == document
        # Moved to another letter, the ciphertext does not decrypt.
        with pytest.raises(VaultError):
            vault.decrypt(sealed, context=f"document:{second}")


# --- one-time codes ------------------------------------------------------------------------------


def test_codes_are_six_digits() -> None:
    codes = [otp.new_code() for _ in range(2000)]
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    # Leading zeros are kept and the codes are spread over the whole range.
    assert len(set(codes)) > 1900
    assert any(code.startswith("0") for code in codes)


def test_code_hash_is_keyed_and_salted() -> None:
    base = otp.hash_code("123456", pepper="pepper-one", salt="code-1")
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert base == otp.hash_code("123456", pepper="pepper-one", salt="code-1")
    assert base != otp.hash_code("123456", pepper="pepper-two", salt="code-1")
    assert base != otp.hash_code("123456", pepper="pepper-one", salt="code-2")
    assert base != otp.hash_code("123457", pepper="pepper-one", salt="code-1")
    # Not a plain (unkeyed) hash of the code, which a million guesses would reverse.
    assert base != hashlib.sha256(b"123456").hexdigest()
    assert base != hashlib.sha256(b"code-1:123456").hexdigest()


def test_code_matches() -> None:
    stored = otp.hash_code("042042", pepper="p", salt="s")
    assert otp.code_matches("042042", stored, pepper="p", salt="s")
    assert not otp.code_matches("042043", stored, pepper="p", salt="s")
    assert not otp.code_matches("042042", stored, pepper="other", salt="s")
    assert not otp.code_matches("042042", stored, pepper="p", salt="other")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        (" 123456 ", "123456"),
        ("123-456", "123456"),
        ("12 34 56", "123456"),
        ("١٢٣٤٥٦", "123456"),  # Arabic-Indic digits
        ("۱۲۳۴۵۶", "123456"),  # Extended Arabic-Indic (Persian) digits
        ("١٢٣ ٤٥٦", "123456"),
        ("１２３４５６", "123456"),  # full-width digits
        ("012345", "012345"),
        ("12345", None),
        ("1234567", None),
        ("", None),
        ("abcdef", None),
        ("¹²³⁴⁵⁶", None),  # superscripts are "digits" to str.isdigit but not numbers int() reads
        ("①②③④⑤⑥", None),
    ],
)
def test_normalise_code(raw: str, expected: str | None) -> None:
    assert otp.normalise_code(raw) == expected


def test_codes_are_stored_only_as_keyed_hashes(app: Flask, deposit: Any, run_jobs: Any, outbox: Any) -> None:
    letter_id = deposit().json["id"]
    run_jobs()
    with app.app_context():
        services = current_services()
        letter = db.session.get_one(Letter, letter_id)
        entry = request_code(db.session, services, letter)
        db.session.commit()
        entry_id = entry.id
    run_jobs()
    code = re.search(r"\b(\d{6})\b", outbox()[-1]["text"])
    assert code
    with app.app_context():
        stored = db.session.get_one(OneTimeCode, entry_id)
        secret_key = current_services().settings.secret_key
        assert stored.code_hash == otp.hash_code(code.group(1), pepper=secret_key, salt=entry_id)
        assert code.group(1) not in stored.code_hash
        # Not in the code's row nor in its SMS's row (where the secret is erased once sent).
        # Other tables hold timestamps and phone numbers in which six digits may appear by chance.
        tables = {"one_time_codes", "outbound_messages"}
        assert _text_columns_containing(code.group(1), tables=tables, skip_ids=True) == []


# --- link tokens ---------------------------------------------------------------------------------


def test_link_tokens_have_at_least_128_bits() -> None:
    tokens = [new_link_token() for _ in range(500)]
    assert len(set(tokens)) == 500
    for token in tokens:
        assert len(token) >= 22  # 22 base64url characters carry 132 bits, 16 random bytes 128
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_link_token_hash_is_sha256() -> None:
    token = new_link_token()
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


def _text_columns_containing(needle: str, tables: set[str] | None = None, skip_ids: bool = False) -> list[str]:
    """Every `table.column` (string columns of `tables`, or of all) whose value contains `needle`."""
    found = []
    for table in db.metadata.sorted_tables:
        if tables is not None and table.name not in tables:
            continue
        for column in table.columns:
            name = f"{table.name}.{column.name}"
            if not isinstance(column.type, String | Text):
                continue
            if skip_ids and (column.name == "id" or column.name.endswith("_id")):
                continue
            rows = db.session.execute(select(column).where(column.contains(needle))).all()
            if rows:
                found.append(name)
    return found


def test_only_the_sha256_of_the_link_token_is_stored(app: Flask, deposit: Any, run_jobs: Any, outbox: Any) -> None:
    letter_id = deposit().json["id"]
    run_jobs()
    [sms] = outbox()
    match = re.search(r"https://wassit\.ma/l/([A-Za-z0-9_-]+)", sms["text"])
    assert match
    token = match.group(1)
    assert len(token) >= 22
    with app.app_context():
        [link] = db.session.execute(select(AccessLink).where(AccessLink.letter_id == letter_id)).scalars()
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        # The raw token is in no text column of any table (the message's secret is encrypted,
        # and erased once sent).
        assert _text_columns_containing(token) == []
