"""Which addresses an outbound request may connect to: a pure decision over ``ipaddress`` objects.

Only addresses that are reachable on the public internet pass, unless the operator allow-lists a
network or a host name. The tables are written out here rather than taken from
``ipaddress``'s ``is_global`` and friends, whose answers differ between Python releases.

An IPv6 address that carries an IPv4 address (mapped, compatible, translated, NAT64, 6to4) is
judged by that IPv4 address, because that is the host a packet to it ends up at.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def _v4(table: dict[str, str]) -> tuple[tuple[IPv4Network, str], ...]:
    return tuple((IPv4Network(cidr), why) for cidr, why in table.items())


def _v6(table: dict[str, str]) -> tuple[tuple[IPv6Network, str], ...]:
    return tuple((IPv6Network(cidr), why) for cidr, why in table.items())


# IANA's IPv4 special-purpose registry, keeping what is not globally reachable or not unicast.
_V4_REFUSED = _v4(
    {
        "0.0.0.0/8": "this network",
        "10.0.0.0/8": "private",
        "100.64.0.0/10": "shared address space (CGNAT)",
        "127.0.0.0/8": "loopback",
        "169.254.0.0/16": "link-local",
        "172.16.0.0/12": "private",
        "192.0.0.0/24": "IETF protocol assignments",
        "192.0.2.0/24": "documentation",
        "192.88.99.0/24": "6to4 relay anycast",
        "192.168.0.0/16": "private",
        "198.18.0.0/15": "benchmarking",
        "198.51.100.0/24": "documentation",
        "203.0.113.0/24": "documentation",
        "224.0.0.0/4": "multicast",
        "240.0.0.0/4": "reserved",
    }
)

# Outside these, IPv6 space is not assigned for global unicast at all (2000::/3 is).
_V6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_V6_REFUSED = _v6(
    {
        "::1/128": "loopback",
        "::/128": "unspecified",
        "64:ff9b:1::/48": "local-use NAT64",
        "100::/64": "discard-only",
        # Includes Teredo (2001::/32): its client address is only reachable through a relay,
        # and the range is not globally reachable as a destination.
        "2001::/23": "IETF protocol assignments",
        "2001:db8::/32": "documentation",
        "3fff::/20": "documentation",
        "5f00::/16": "segment routing",
        "fc00::/7": "unique-local",
        "fe80::/10": "link-local",
        "fec0::/10": "site-local",
        "ff00::/8": "multicast",
    }
)

# Instance metadata services: refused even inside an allow-listed network unless the allow-list
# names the very address.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        IPv4Address("168.63.129.16"),  # Azure wire server (a public address)
        IPv4Address("100.100.100.200"),  # Alibaba Cloud
        IPv4Address("192.0.0.192"),  # Oracle Cloud
        IPv6Address("fd00:ec2::254"),  # AWS over IPv6
    }
)

# Prefixes whose last 32 bits are the IPv4 host a connection reaches.
_V4_CARRIERS = (
    IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix
    IPv6Network("::/96"),  # IPv4-compatible (deprecated)
)
_SIX_TO_FOUR = IPv6Network("2002::/16")


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, NAT64, compatible, 6to4)."""
    address = _unscoped(address)
    if address in _V4_CARRIERS[3] and int(address) <= 1:
        return None  # :: and ::1 are themselves, not IPv4-compatible addresses
    for prefix in _V4_CARRIERS:
        if address in prefix:
            return IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def _unscoped(address: IPv6Address) -> IPv6Address:
    # A zone id picks an interface; it does not change which range the address is in.
    return IPv6Address(int(address)) if address.scope_id else address


def _range_refusal(address: IPAddress) -> str | None:
    if isinstance(address, IPv4Address):
        return next((why for net, why in _V4_REFUSED if address in net), None)
    carried = embedded_ipv4(address)
    if carried is not None:
        why = _range_refusal(carried)
        if why is not None:
            return f"{why} ({carried} embedded)"
        if address not in _SIX_TO_FOUR:
            return None
    why = next((why for net, why in _V6_REFUSED if address in net), None)
    if why is None and address not in _V6_GLOBAL_UNICAST:
        why = "reserved"
    return why


def _target(address: IPAddress) -> IPAddress:
    """The host a connection to ``address`` reaches (an embedded IPv4 host for carrier prefixes)."""
    if isinstance(address, IPv6Address):
        address = _unscoped(address)
        carried = embedded_ipv4(address)
        if carried is not None and address not in _SIX_TO_FOUR:
            return carried
    return address


def _within(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def refusal(address: IPAddress, allow: Iterable[IPNetwork] = ()) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is permitted.

    ``allow`` lists operator-trusted networks; they permit addresses the tables above would
    refuse, except metadata services, which only a single-address entry permits.
    """
    allow = tuple(allow)
    target = _target(address)
    plain = _unscoped(address) if isinstance(address, IPv6Address) else address
    carried = embedded_ipv4(plain) if isinstance(plain, IPv6Address) else None  # 6to4 included
    if {plain, target, carried} & METADATA_ADDRESSES:
        exact = [net for net in allow if net.num_addresses == 1]
        return None if _within(target, exact) or _within(plain, exact) else "cloud metadata service"
    if _within(target, allow) or _within(plain, allow):
        return None
    return _range_refusal(plain)


def permitted(address: IPAddress, allow: Iterable[IPNetwork] = ()) -> bool:
    return refusal(address, allow) is None
