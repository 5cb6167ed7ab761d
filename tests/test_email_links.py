"""Every HTML email we send has its links clickable, and escapes everything else."""

from __future__ import annotations

from webapp.accounts.links import plain_email


def test_account_emails_make_their_addresses_links_and_escape_the_rest() -> None:
    email = plain_email(
        "gerant@anfa.ma",
        "fr",
        "Confirmez",
        ["Bonjour <b>Anfa</b> & co,", "Confirmez ici :\nhttps://wassit.ma/confirm-email/abc_DEF-123?x=1&y=2"],
    )
    assert '<a href="https://wassit.ma/confirm-email/abc_DEF-123?x=1&amp;y=2">' in email.html
    assert "&lt;b&gt;Anfa&lt;/b&gt; &amp; co" in email.html
    assert "<b>" not in email.html
    assert "https://wassit.ma/confirm-email/abc_DEF-123?x=1&y=2" in email.text
