"""The OpenAPI 3.1 document (contract): public, cacheable, valid, complete for the routes, the
docs page rendered from it, and the API fuzzed against it with schemathesis: no server error,
every answer as documented."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Sender

OPENAPI = "/api/v1/openapi.json"
FUZZ_EXAMPLES = 25  # per operation and mode: about 300 requests, well under a minute


def test_the_document_is_public_cacheable_and_openapi_3_1(client: FlaskClient) -> None:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "public" in response.headers["Cache-Control"]
    document = response.json
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "https://wassit.ma"}]
    assert document["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from the portal.",
    }
    assert set(document["components"]["schemas"]) >= {"Letter", "Event", "Proof", "Error"}
    again = client.get(OPENAPI, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_document_validates_as_openapi_3_1(client: FlaskClient) -> None:
    document = client.get(OPENAPI).json
    try:
        from openapi_spec_validator import validate  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        validate(document)
    # schemathesis refuses an invalid document when it loads it, and resolves every $ref here.
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/api/v1/letters"),
        ("GET", "/api/v1/letters"),
        ("GET", "/api/v1/letters/{letter_id}"),
        ("GET", "/api/v1/letters/{letter_id}/proofs"),
        ("GET", "/api/v1/letters/{letter_id}/proofs/{kind}"),
        ("GET", "/api/v1/letters/{letter_id}/bundle"),
        ("POST", "/api/v1/letters/{letter_id}/resend"),
        ("POST", "/api/v1/letters/{letter_id}/legal-hold"),
        ("POST", "/api/v1/letters/{letter_id}/legal-hold/lift"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/batches"),
        ("GET", "/api/v1/batches/{batch_id}"),
        ("GET", "/api/v1/batches/{batch_id}/letters"),
        ("GET", "/api/v1/webhooks"),
        ("POST", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks/{endpoint_id}"),
        ("PATCH", "/api/v1/webhooks/{endpoint_id}"),
        ("DELETE", "/api/v1/webhooks/{endpoint_id}"),
        ("POST", "/api/v1/webhooks/{endpoint_id}/rotate-secret"),
        ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"),
        ("POST", "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry"),
    }


def test_every_api_route_is_documented_and_every_documented_path_exists(app: Flask, client: FlaskClient) -> None:
    documented = {
        (method.upper(), path) for path, methods in client.get(OPENAPI).json["paths"].items() for method in methods
    }
    routes = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == documented


def test_every_error_is_documented_with_the_error_schema(client: FlaskClient) -> None:
    document = client.get(OPENAPI).json
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if path.endswith("openapi.json"):
                continue
            assert {"401", "404", "500", "default"} <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if status[0] in "45" or status == "default":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_the_docs_page_lists_every_endpoint_with_a_curl_example(client: FlaskClient) -> None:
    response = client.get("/api/docs", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.text
    for path, methods in client.get(OPENAPI).json["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in page
    assert "curl -X POST" in page
    assert "-F document=@letter.pdf" in page
    assert "Authorization: Bearer $WASSIT_TOKEN" in page
    assert "Idempotency-Key" in page
    # Bulk and JSON bodies are documented with their fields and a runnable example.
    assert "-F csv=@letters.csv" in page
    assert "-F zip=@letters.zip" in page
    assert "<td><code>url</code></td><td>JSON body</td>" in page
    assert "-d &#39;{&#34;active&#34;: false}&#39;" in page
    assert "/webhooks/$ENDPOINT_ID/deliveries/$DELIVERY_ID/retry" in page  # every path parameter filled
    # The events we POST, with the signature header the integrator must check.
    assert 'id="event-letter.status_changed"' in page
    assert 'id="event-letter.proof_ready"' in page
    assert "<code>Wassit-Signature</code>" in page
    # The descriptions' markdown is rendered: no raw backticks or double asterisks, code as <code>.
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    prose = re.sub(r"<pre>.*?</pre>", "", main, flags=re.S)
    assert "`" not in prose
    assert "**" not in prose
    assert "<code>organisation_not_verified</code>" in main
    assert "<script" not in page.split("<main", 1)[1]  # nothing to download, nothing to run
    assert "unpkg" not in page
    assert "cdn" not in page.lower()


def _article(page: str) -> str:
    match = re.search(r'<article class="api-docs" lang="(\w+)" dir="ltr">(.*)</article>', page, re.S)
    assert match, page[:500]
    return f"{match.group(1)}:{match.group(2)}"


def test_the_docs_page_is_in_french_by_default_and_in_english_when_asked(client: FlaskClient) -> None:
    document = client.get(OPENAPI).json
    english_intro = document["info"]["description"].split("`")[0].strip()
    french = client.get("/api/docs")
    assert french.status_code == 200
    assert "Accept-Language" in french.headers["Vary"]
    assert "private" in french.headers["Cache-Control"]
    article = _article(french.text)
    assert article.startswith("fr:")
    for words in ("Paramètres", "Réponses", "Exemple", "Obligatoire", "Schémas", "corps JSON"):
        assert words in article, words
    assert english_intro not in article
    assert "Parameters" not in article
    assert "Responses" not in article
    # Code stays code: the same request, the same field names and error codes in both languages.
    english = _article(client.get("/api/docs", headers={"Accept-Language": "en"}).text)
    assert english.startswith("en:")
    assert "Parameters" in english
    assert english_intro in english
    code = re.compile(r"<code>.*?</code>|<pre>.*?</pre>", re.S)
    assert sorted(code.findall(article)) == sorted(code.findall(english))
    # Developers read French or English: an Arabic visitor gets the French documentation.
    assert _article(client.get("/api/docs", headers={"Accept-Language": "ar"}).text).startswith("fr:")


def test_every_text_the_docs_page_shows_is_translated_in_french(app: Flask) -> None:
    """What `make extract-messages` records (`webapp.web.api.docs_catalog`) is all in `apidocs.po`:
    a description added to the API without its translation fails here."""
    from webapp.labels import reviewed_catalog
    from webapp.web.api.docs import DOCS_DOMAIN
    from webapp.web.api.docs_catalog import page_texts

    texts = page_texts(app)
    assert len(texts) > 100
    catalog = reviewed_catalog(DOCS_DOMAIN, "fr")
    missing = [text for text in texts if text not in catalog]
    assert not missing, f"untranslated in apidocs.po (run `make extract-messages`): {missing[:5]}"
    for text in texts:
        assert sorted(re.findall(r"%\(\w+\)s", catalog[text])) == sorted(re.findall(r"%\(\w+\)s", text)), text
        assert sorted(re.findall(r"`[^`]+`", catalog[text])) == sorted(re.findall(r"`[^`]+`", text)), text


def _fuzz(app: Flask, sender: Sender, letter_id: str) -> int:
    """Runs every operation of the document with generated requests, valid and invalid; returns
    how many requests were made.  Path ids are mostly a real letter of the organisation, so that
    the fuzzer gets past the 404."""
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, real_id=st.booleans())
            def run(case: Any, real_id: bool) -> None:
                nonlocal calls
                if real_id and isinstance(case.path_parameters, dict) and "letter_id" in case.path_parameters:
                    case.path_parameters["letter_id"] = letter_id
                calls += 1
                # The WSGI transport does not decompress: ask for the body as is.
                case.call_and_validate(headers={**sender.auth, "Accept-Encoding": "identity"}, checks=checks)

            run()
    return calls


def test_the_api_fuzzed_against_its_document_has_no_server_error(
    app: Flask, sender: Sender, deposit: Any, run_jobs: Callable[[], None]
) -> None:
    app.config.update(PROPAGATE_EXCEPTIONS=False)  # a 500 is an answer to check, not a crash of the test
    letter_id = deposit(sender_reference="FUZZ-1").json["id"]
    run_jobs()
    started = time.monotonic()
    calls = _fuzz(app, sender, letter_id)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {calls} requests in {elapsed:.1f} s")
    assert calls > 100
    assert elapsed < 90


@pytest.mark.parametrize("path", ["/api/v1/letters", "/api/v1/letters/x/proofs", "/api/v1/letters/x/resend"])
def test_documented_operations_need_a_token(client: FlaskClient, path: str) -> None:
    method = client.post if path.endswith(("resend", "letters")) else client.get
    response = method(path)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
