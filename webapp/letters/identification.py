"""How a recipient proves who they are, and what evidence records say of the client and the code.

Kept apart from `letters.recipient` so that the notifications module, which
records the code-sent event, can use it without importing the recipient flow.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# How the recipient proves who they are, as evidence records name it.
IDENTIFICATION_METHOD = "sms-otp"
# A browser's User-Agent is kept to this many characters: enough for any real one, and a
# client cannot fill the journal with a megabyte of header.
USER_AGENT_MAX = 512


@dataclass(frozen=True)
class ClientInfo:
    """The client a recipient's request came from, as evidence records state it.

    The web layer builds it from the request (the address as `ProxyFix` left it,
    see `TRUSTED_PROXIES`), so that the domain never reads `flask.request`.
    """

    ip: str | None
    user_agent: str | None

    @classmethod
    def of(cls, ip: str | None, user_agent: str | None) -> ClientInfo:
        """A normalised address (None if it is not one) and a User-Agent cut to `USER_AGENT_MAX`."""
        try:
            address = str(ipaddress.ip_address((ip or "").strip()))
        except ValueError:
            address = None
        agent = (user_agent or "").strip()[:USER_AGENT_MAX] or None
        return cls(ip=address, user_agent=agent)

    def facts(self) -> dict[str, str | None]:
        return {"ip": self.ip, "user_agent": self.user_agent}


def masked_number(phone: str) -> str:
    """`+212612345678` → `+2126••••5678`: the number a code went to, as the code-sent record states it."""
    return f"{phone[:5]}••••{phone[-4:]}" if len(phone) >= 11 else "••••"
