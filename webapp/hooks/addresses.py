"""Which addresses a webhook may reach: public unicast only, never a special-purpose range.

The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and their later entries) are
refused whole, even the few ranges they mark globally reachable (AS112, AMT, relays): a
webhook has no business there.  IPv6 is refused outside global unicast (2000::/3), and the
forms that carry an IPv4 address inside an IPv6 one (mapped, compatible, NAT64, 6to4, Teredo,
ISATAP) are refused, or judged by the IPv4 address they carry: `[64:ff9b::7f00:1]` is
127.0.0.1 through a NAT64 gateway.
"""

from __future__ import annotations

import ipaddress
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

SPECIAL_PURPOSE_V4: tuple[IPv4Network, ...] = tuple(
    IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata services)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (DS-Lite, NAT64 discovery, …)
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.31.196.0/24",  # AS112
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "192.175.48.0/24",  # AS112 direct delegation
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 (limited broadcast)
    )
)

SPECIAL_PURPOSE_V6: tuple[IPv6Network, ...] = tuple(
    IPv6Network(net)
    for net in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated): ::127.0.0.1
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use prefix
        "100::/64",  # discard-only
        "100:0:0:1::/64",  # dummy prefix
        "2001::/23",  # IETF protocol assignments: Teredo (2001::/32), benchmarking (2001:2::/48), ORCHID, AMT, …
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "2620:4f:8000::/48",  # AS112
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 segment identifiers
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".lan", ".home.arpa", ".arpa")


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries, in any of the forms that tunnel or translate one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = address.packed
    if address in IPv6Network("::/96") and address not in IPv6Network("::/127"):
        return IPv4Address(packed[12:])  # IPv4-compatible
    if address in IPv6Network("64:ff9b::/96"):
        return IPv4Address(packed[12:])
    if address in IPv6Network("64:ff9b:1::/48"):
        return IPv4Address(packed[12:])  # RFC 8215 allows other layouts; the prefix is refused whole anyway
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's own address (de-obfuscated)
    if packed[8:12] in (b"\x00\x00\x5e\xfe", b"\x02\x00\x5e\xfe"):
        return IPv4Address(packed[12:])  # ISATAP interface identifier
    return None


def is_public_address(address: IPv4Address | IPv6Address) -> bool:
    """True only for a unicast address outside every special-purpose range (and whatever IPv4 it carries)."""
    if isinstance(address, IPv4Address):
        return not any(address in net for net in SPECIAL_PURPOSE_V4)
    if address.scope_id:
        return False
    if address not in GLOBAL_UNICAST_V6 or any(address in net for net in SPECIAL_PURPOSE_V6):
        return False
    carried = embedded_ipv4(address)
    return carried is None or is_public_address(carried)


def literal_address(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host names literally (`[::1]`, `127.0.0.1`, and the legacy forms resolvers
    still accept: `127.1`, `0x7f.0.0.1`, `2130706433`); None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if "%" in host:  # an IPv6 address with a zone (fe80::1%eth0)
        return IPv6Address("::1")
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_public_host(host: str) -> bool:
    """Whether a URL's host may be a webhook's: a public address, or a name that is not local-only.

    A name is checked again at each delivery, on the addresses it resolves to (`webapp.hooks.delivery`)."""
    host = host.lower().rstrip(".")
    address = literal_address(host)
    if address is not None:
        return is_public_address(address)
    return bool(host) and "." in host and host != "localhost" and not host.endswith(_LOCAL_SUFFIXES)
