"""Unit tests of the deposit's input rules: phone numbers, PDF checks, document names."""

from __future__ import annotations

import io
import unicodedata

import pytest
from pypdf import PdfWriter

from tests.conftest import make_pdf_bytes
from webapp.letters.deposit import check_pdf, clean_document_name, parse_mobile_number
from webapp.letters.errors import DocumentTooLarge, InvalidDocument, InvalidInput, InvalidPhoneNumber

MB = 1024 * 1024


# --- parse_mobile_number -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0612345678", "+212612345678"),
        ("0712345678", "+212712345678"),
        ("06 12 34 56 78", "+212612345678"),
        ("06-12-34-56-78", "+212612345678"),
        ("06.12.34.56.78", "+212612345678"),
        ("  0612345678  ", "+212612345678"),
        ("+212612345678", "+212612345678"),
        ("+212 6 12 34 56 78", "+212612345678"),
        ("+212 7 12 34 56 78", "+212712345678"),
        ("00212612345678", "+212612345678"),
        ("(+212) 612-345-678", "+212612345678"),
        ("+212 (0) 6 12 34 56 78", "+212612345678"),
        ("٠٦١٢٣٤٥٦٧٨", "+212612345678"),  # Arabic-Indic digits, as typed on Arabic keyboards
        ("+33 6 12 34 56 78", "+33612345678"),  # a French mobile
        ("+1 415 555 2671", "+14155552671"),  # the US plan does not tell mobiles from landlines
        ("+33612345678", "+33612345678"),
    ],
)
def test_mobile_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert parse_mobile_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0522123456",  # Casablanca landline
        "+212522123456",
        "0537123456",  # Rabat landline
        "0800123456",  # toll-free
        "+33 1 42 68 53 00",  # a Paris landline
    ],
)
def test_numbers_that_cannot_receive_sms_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        parse_mobile_number(raw)
    assert info.value.field == "recipient_phone"
    assert "mobile" in info.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "0612",  # too short
        "06123456789",  # one digit too many
        "+2126123456789",
        "0" * 40,  # far too long
        "061234567" + "8" * 30,
        "+999 612345678",  # no such country code
        "1234",
    ],
)
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_mobile_number(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "06ABCDEFGH",
        "+212 6ABCDEFGH",  # phonenumbers would silently read this as the keypad number +212622233344
        "061234567a",
        "abc0612345678",
        "0612345678x",  # read as an extension by phonenumbers, then dropped
        "0612345678 ext 12",
        "0612345678;ext=1",
        "tel:+212612345678",
        "O6I2345678",  # letters O and I for 0 and 1
    ],
)
def test_numbers_with_letters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_mobile_number(raw)


def test_invalid_phone_is_an_invalid_input_naming_its_field() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_mobile_number("not a number")
    assert info.value.code == "invalid_phone"
    assert info.value.field == "recipient_phone"


# --- check_pdf -----------------------------------------------------------------------------------


def _encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_valid_pdf_passes() -> None:
    check_pdf(make_pdf_bytes(pages=3), 10 * MB)


def test_a_pdf_exactly_at_the_limit_passes() -> None:
    data = make_pdf_bytes(pad_to=4096)
    assert len(data) == 4096
    check_pdf(data, 4096)


def test_a_pdf_over_the_limit_is_too_large() -> None:
    data = make_pdf_bytes(pad_to=4097)
    with pytest.raises(DocumentTooLarge) as info:
        check_pdf(data, 4096)
    assert info.value.field == "document"


def test_size_is_checked_before_content() -> None:
    with pytest.raises(DocumentTooLarge):
        check_pdf(b"not a pdf at all" * 1000, 1000)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InvalidDocument, match="empty"):
        check_pdf(b"", 10 * MB)


@pytest.mark.parametrize(
    "data",
    [
        b"Hello, this is plain text and not a PDF.",
        b"PK\x03\x04" + b"\x00" * 200,  # a zip (docx) file
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
        b"<html><body>%PDF-1.7</body></html>",  # the magic hidden in another format
        b"%PDF-1.7\n",  # a header and nothing else
    ],
)
def test_non_pdf_content_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidDocument):
        check_pdf(data, 10 * MB)


def test_a_pdf_named_by_content_not_by_extension() -> None:
    # check_pdf sees only bytes: a real PDF passes whatever its name, and text never does.
    with pytest.raises(InvalidDocument, match="not a PDF"):
        check_pdf(b"%!PS-Adobe-3.0 a PostScript file" * 10, 10 * MB)


@pytest.mark.parametrize("user_password", ["secret", ""])
def test_an_encrypted_pdf_is_refused(user_password: str) -> None:
    with pytest.raises(InvalidDocument, match="encrypted"):
        check_pdf(_encrypted_pdf(user_password), 10 * MB)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.75, 0.9])
def test_a_truncated_pdf_is_refused(fraction: float) -> None:
    data = make_pdf_bytes(pages=2)
    with pytest.raises(InvalidDocument, match="damaged"):
        check_pdf(data[: int(len(data) * fraction)], 10 * MB)


# --- clean_document_name -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mise-en-demeure.pdf", "mise-en-demeure.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/home/fatima/lettre.pdf", "lettre.pdf"),
        ("C:\\Users\\Fatima\\Documents\\lettre.pdf", "lettre.pdf"),
        ("..\\..\\windows\\system.ini.pdf", "system.ini.pdf"),
        ("a\x00b\nc\r\td.pdf", "abcd.pdf"),
        ("facture\u202efdp.exe", "facturefdp.exe"),  # right-to-left override used to disguise names
        ("\x07\x1bbell.pdf", "bell.pdf"),
        ("رسالة إنذار.pdf", "رسالة إنذار.pdf"),
        ("mise en demeure – été 2026.pdf", "mise en demeure – été 2026.pdf"),
        ("Çà et là ñ ü.pdf", "Çà et là ñ ü.pdf"),
        ("  .lettre.pdf. ", "lettre.pdf"),
        ("", "document.pdf"),
        ("...", "document.pdf"),
        ("/", "document.pdf"),
        ("\x00\x01", "document.pdf"),
    ],
)
def test_document_names_are_cleaned(raw: str, expected: str) -> None:
    assert clean_document_name(raw) == expected


def test_document_names_are_nfc_normalised() -> None:
    decomposed = "e\u0301te\u0301.pdf"  # "été" as typed on macOS
    cleaned = clean_document_name(decomposed)
    assert cleaned == "été.pdf"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_long_document_names_are_capped_and_keep_their_extension() -> None:
    cleaned = clean_document_name("a" * 300 + ".pdf")
    assert len(cleaned) <= 200
    assert cleaned.endswith(".pdf")
    assert cleaned.startswith("aaaa")


def test_long_document_names_without_extension_are_capped() -> None:
    assert clean_document_name("b" * 1000) == "b" * 200


def test_long_arabic_document_names_are_capped_by_characters() -> None:
    cleaned = clean_document_name("ر" * 500 + ".pdf")
    assert len(cleaned) <= 200
    assert cleaned.endswith(".pdf")
    # The column is VARCHAR(255): characters, not bytes, are what counts.
    assert set(cleaned.removesuffix(".pdf")) == {"ر"}
