"""The outbound address policy, as a pure decision: no sockets, no DNS."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from difychat.server.net import AllowList, embedded_ipv4, permitted, refusal
from difychat.server.net.policy import METADATA_ADDRESSES

PROPERTY = settings(max_examples=300, deadline=None, database=None)

FORBIDDEN_V4 = {
    "0.0.0.0/8": "this network",
    "10.0.0.0/8": "private",
    "100.64.0.0/10": "CGNAT",
    "127.0.0.0/8": "loopback",
    "169.254.0.0/16": "link-local",
    "172.16.0.0/12": "private",
    "192.0.0.0/24": "IETF",
    "192.0.2.0/24": "documentation",
    "192.88.99.0/24": "6to4 relay",
    "192.168.0.0/16": "private",
    "198.18.0.0/15": "benchmarking",
    "198.51.100.0/24": "documentation",
    "203.0.113.0/24": "documentation",
    "224.0.0.0/4": "multicast",
    "240.0.0.0/4": "reserved",
}
FORBIDDEN_V6 = {
    "::1/128": "loopback",
    "::/128": "unspecified",
    "64:ff9b:1::/48": "local-use NAT64",
    "100::/64": "discard-only",
    "2001::/32": "IETF",  # Teredo
    "2001:db8::/32": "documentation",
    "fc00::/7": "unique-local",
    "fe80::/10": "link-local",
    "fec0::/10": "site-local",
    "ff00::/8": "multicast",
    "4000::/2": "reserved",  # not global unicast space
}
V4_NETS = [IPv4Network(n) for n in FORBIDDEN_V4]


def in_network(cidr: str) -> st.SearchStrategy[IPv4Address | IPv6Address]:
    net = ip_network(cidr)
    first, last = int(net.network_address), int(net.broadcast_address)
    return st.integers(first, last).map(lambda n: ip_address(n) if net.version == 4 else IPv6Address(n))


forbidden_v4 = st.sampled_from(sorted(FORBIDDEN_V4)).flatmap(in_network)


def _forbidden_share(octet: int) -> float:
    """How much of ``octet``.0.0.0/8 the forbidden ranges cover (0 to 1)."""
    block = IPv4Network(f"{octet}.0.0.0/8")
    covered = sum(n.num_addresses for n in V4_NETS if n.subnet_of(block)) / block.num_addresses
    return 1.0 if any(block.subnet_of(n) for n in V4_NETS) else covered


def _is_public(address: IPv4Address) -> bool:
    return not any(address in n for n in V4_NETS) and address not in METADATA_ADDRESSES


# Drawn a /8 at a time from the /8s that are at least half public, so that few draws are thrown
# away (drawing from all 2**32 addresses threw away most: Hypothesis favours 0.0.0.0 and
# 255.255.255.255 and their neighbours); the /8s with forbidden ranges inside them are among them.
_PUBLIC_OCTETS = [o for o in range(256) if _forbidden_share(o) < 0.5]
public_v4 = (
    st.tuples(st.sampled_from(_PUBLIC_OCTETS), st.integers(0, 2**24 - 1))
    .map(lambda drawn: IPv4Address(drawn[0] << 24 | drawn[1]))
    .filter(_is_public)
)


def embeddings(v4: IPv4Address) -> dict[str, IPv6Address]:
    """Every IPv6 form that carries ``v4``."""
    n = int(v4)
    return {
        "mapped": IPv6Address(0xFFFF << 32 | n),
        "compatible": IPv6Address(n),
        "translated": IPv6Address(0xFFFF << 48 | n),
        "nat64": IPv6Address(int(IPv6Address("64:ff9b::")) | n),
        "6to4": IPv6Address(0x2002 << 112 | n << 80 | 1),
    }


# -- examples that name the reason ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("0.0.0.0", "this network"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("169.254.169.254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),  # Azure's wire server is a public address
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("fd12:3456::1", "unique-local"),
        ("fd00:ec2::254", "metadata"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (127.0.0.1 embedded)"),
        ("::127.0.0.1", "loopback (127.0.0.1 embedded)"),
        ("::ffff:0:10.0.0.1", "private (10.0.0.1 embedded)"),
        ("64:ff9b::169.254.0.1", "link-local (169.254.0.1 embedded)"),
        ("64:ff9b:1::8.8.8.8", "local-use NAT64"),
        ("2002:c0a8:0101::1", "private (192.168.1.1 embedded)"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "IETF"),  # Teredo
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2002:a83f:8110::1", "metadata"),  # 168.63.129.16 in 6to4
    ],
)
def test_refusal_names_the_range(address: str, reason: str) -> None:
    why = refusal(ip_address(address))
    assert why is not None and reason in why


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82a::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::1.1.1.1",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_permitted(address: str) -> None:
    assert refusal(ip_address(address)) is None


# -- properties over whole ranges --------------------------------------------------------------------


@PROPERTY
@given(forbidden_v4)
def test_every_address_of_every_forbidden_ipv4_range_is_refused(address: IPv4Address) -> None:
    assert not permitted(address)


@PROPERTY
@given(forbidden_v4, st.sampled_from(["mapped", "compatible", "translated", "nat64", "6to4"]))
@example(IPv4Address("0.0.0.0"), "compatible")
@example(IPv4Address("0.0.0.1"), "compatible")
@example(IPv4Address("255.255.255.255"), "6to4")
def test_every_ipv6_form_of_a_forbidden_ipv4_address_is_refused(address: IPv4Address, form: str) -> None:
    carrier = embeddings(address)[form]
    if str(carrier) not in ("::", "::1"):  # compatible forms of 0.0.0.0 and 0.0.0.1 are themselves
        assert embedded_ipv4(carrier) == address
    assert not permitted(carrier)
    scoped = IPv6Address(f"{carrier}%eth0")  # a zone id does not change the range
    assert not permitted(scoped)


@PROPERTY
@given(st.sampled_from(sorted(FORBIDDEN_V6)).flatmap(in_network))
def test_every_address_of_every_forbidden_ipv6_range_is_refused(address: IPv6Address) -> None:
    assert not permitted(address)
    assert not permitted(IPv6Address(f"{address}%25"))


@PROPERTY
@given(public_v4, st.sampled_from(["mapped", "translated", "nat64", "6to4"]))
def test_public_ipv4_addresses_and_their_ipv6_forms_are_permitted(address: IPv4Address, form: str) -> None:
    assert permitted(address)
    assert permitted(embeddings(address)[form])


@PROPERTY
@given(public_v4)
def test_teredo_is_refused_whatever_it_embeds(address: IPv4Address) -> None:
    obfuscated = int(address) ^ 0xFFFFFFFF
    teredo = IPv6Address(0x20010000 << 96 | int(address) << 64 | 0x8000 << 48 | obfuscated)
    assert teredo.teredo is not None
    assert not permitted(teredo)


@PROPERTY
@given(st.integers(int(IPv6Address("2000::")), int(IPv6Address("3fff:efff:ffff:ffff:ffff:ffff:ffff:ffff"))))
def test_global_unicast_ipv6_is_permitted_outside_the_special_ranges(n: int) -> None:
    address = IPv6Address(n)
    special = [IPv6Network(c) for c in ("2001::/23", "2001:db8::/32", "2002::/16")]
    if any(address in net for net in special):
        return
    assert permitted(address)


# -- the operator's allow-list -----------------------------------------------------------------------


def test_allow_listed_networks_permit_private_targets_and_their_ipv6_forms() -> None:
    allow = AllowList.parse(["10.0.0.0/8", " ", "fd00::/8", "192.168.1.5"])
    assert allow.refusal(IPv4Address("10.9.8.7")) is None
    assert allow.refusal(IPv6Address("::ffff:10.9.8.7")) is None
    assert allow.refusal(IPv6Address("64:ff9b::10.9.8.7")) is None
    assert allow.refusal(IPv6Address("fd12::1")) is None
    assert allow.refusal(IPv4Address("192.168.1.5")) is None
    assert allow.refusal(IPv4Address("192.168.1.6")) is not None
    assert allow.refusal(IPv4Address("127.0.0.1")) is not None


def test_metadata_addresses_need_an_entry_naming_them() -> None:
    broad = AllowList.parse(["169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/0", "::/0"])
    for address in METADATA_ADDRESSES:
        assert broad.refusal(address) == "cloud metadata service"
    assert broad.refusal(IPv6Address("::ffff:169.254.169.254")) == "cloud metadata service"
    exact = AllowList.parse(["169.254.169.254"])
    assert exact.refusal(IPv4Address("169.254.169.254")) is None
    assert exact.refusal(IPv4Address("169.254.170.2")) is not None


def test_allow_list_entries_are_networks_or_host_names() -> None:
    allow = AllowList.parse(["Files.Internal.", "bücher.example", "127.0.0.1"])
    assert allow.hosts == frozenset({"files.internal", "xn--bcher-kva.example"})
    assert allow.permits_host("FILES.internal.")
    assert not allow.permits_host("internal")
    assert allow.networks == (IPv4Network("127.0.0.1/32"),)
    for bad in ("10.0.0.0/33", "0x7f.1", "2130706433", "host:8080", "a b", "user@host"):
        with pytest.raises(ValueError):
            AllowList.parse([bad])
