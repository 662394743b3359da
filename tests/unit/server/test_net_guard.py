"""The guard decides on the address aiohttp would actually connect to, in any spelling.

Every attempt here runs through the real aiohttp client (yarl's parsing, IDNA/NFKC, the connector)
with the guard around two seams that make connecting impossible: a resolver that never queries
DNS and a socket opener that records the address and refuses (see ``net_probe``).
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from difychat.server.net import AllowList, MalformedURL, parse_url
from tests.unit.server.net_probe import Outcome, probe, probe_async
from tests.unit.server.net_spellings import DIGIT_FAMILIES, DOTS, Spelling, ipv4_spellings, ipv6_spellings

PROPERTY = settings(max_examples=150, deadline=None, database=None)

FORBIDDEN_V4 = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.20.3.15",
    "172.16.5.4",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",
    "100.100.100.200",
    "169.254.169.254",
    "169.254.170.2",
    "168.63.129.16",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.192",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",
]
FORBIDDEN_V6 = [
    "::1",
    "::",
    "fe80::1",
    "fec0::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "100::1",
    "2001:db8::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "64:ff9b:1::a00:1",
    "5f00::1",
    "3fff::1",
    "4000::1",
]
# 1.20.3.50 can be written in circled numbers (①⑳③㊿) and digit full stops (⒈⒛⒊50).
PUBLIC_V4 = ["8.8.8.8", "93.184.215.14", "1.20.3.50"]
PUBLIC_V6 = ["2606:4700:4700::1111", "2a00:1450:4001:82a::200e"]


def url(spelling: Spelling, port: int = 8080) -> str:
    return f"http://{spelling.host}:{port}/file.txt"


def connected(outcome: Outcome) -> IPv4Address | IPv6Address:
    assert outcome.kind == "reached", outcome
    address = ip_address(outcome.detail)
    return IPv6Address(int(address)) if isinstance(address, IPv6Address) else address


def all_forbidden_spellings() -> list[Spelling]:
    out = [s for a in FORBIDDEN_V4 for s in ipv4_spellings(IPv4Address(a))]
    return out + [s for a in FORBIDDEN_V6 for s in ipv6_spellings(IPv6Address(a))]


def test_no_spelling_of_a_forbidden_address_gets_a_socket() -> None:
    spellings = all_forbidden_spellings()
    assert len(spellings) > 2000
    outcomes = probe(url(s) for s in spellings)
    let_through = [(s.name, s.host, o) for s, o in zip(spellings, outcomes, strict=True) if not o.blocked]
    assert let_through == []
    # The spellings a stack reads as an address are refused for the address, after normalisation.
    for spelling, outcome in zip(spellings, outcomes, strict=True):
        if spelling.means is not None:
            assert outcome.kind == "refused" and "is not allowed" in outcome.detail, (spelling, outcome)


def test_the_same_spellings_of_public_addresses_reach_the_socket_as_that_address() -> None:
    """The counterpart that makes the test above meaningful: those spellings do get through aiohttp."""
    spellings = [s for a in PUBLIC_V4 for s in ipv4_spellings(IPv4Address(a))]
    spellings += [s for a in PUBLIC_V6 for s in ipv6_spellings(IPv6Address(a))]
    outcomes = probe(url(s) for s in spellings)
    for spelling, outcome in zip(spellings, outcomes, strict=True):
        if spelling.means is None:
            assert outcome.kind == "malformed", (spelling, outcome)
        else:
            assert connected(outcome) == spelling.means, (spelling, outcome)


def test_the_audited_bypass_is_closed() -> None:
    refused = probe(["http://１２７．０．０．１:8080/x", "http://127。0。0。1/x", "http://①②⑦.⓪.⓪.①/x"])
    assert [o.kind for o in refused] == ["refused"] * 3
    assert all("127.0.0.1 is not allowed (loopback)" in o.detail for o in refused)


# -- properties: random spellings, character by character ------------------------------------------


@st.composite
def spelled(draw: st.DrawFn, address: IPv4Address) -> str:
    """``address`` with every digit and every dot drawn from a random family."""
    families = sorted(DIGIT_FAMILIES)
    parts = []
    for char in str(address):
        if char == ".":
            parts.append(DOTS[draw(st.sampled_from(sorted(DOTS)))])
        else:
            parts.append(DIGIT_FAMILIES[draw(st.sampled_from(families))][int(char)])
    return "".join(parts)


forbidden_v4 = (
    st.sampled_from(FORBIDDEN_V4).map(IPv4Address)
    | st.integers(0x7F000000, 0x7FFFFFFF).map(IPv4Address)
    | st.integers(0x0A000000, 0x0AFFFFFF).map(IPv4Address)
    | st.integers(0xA9FE0000, 0xA9FEFFFF).map(IPv4Address)
)


@PROPERTY
@given(st.data(), forbidden_v4, st.sampled_from(["{}", "[::ffff:{}]", "[::{}]", "[64:ff9b::{}]"]))
def test_randomly_spelled_forbidden_addresses_are_refused(
    data: st.DataObject, address: IPv4Address, form: str
) -> None:
    host = form.format(data.draw(spelled(address)))
    [outcome] = probe([f"http://{host}:8080/"])
    assert outcome.kind == "refused", (host, outcome)


@PROPERTY
@given(st.data(), st.sampled_from(PUBLIC_V4).map(IPv4Address))
def test_randomly_spelled_public_addresses_reach_the_socket(
    data: st.DataObject, address: IPv4Address
) -> None:
    host = data.draw(spelled(address))
    [outcome] = probe([f"http://{host}:8080/"])
    assert connected(outcome) == address, (host, outcome)


# -- host names ------------------------------------------------------------------------------------

NAMES = {
    "intranet.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["10.0.0.5", "93.184.215.14"],
    "allowed.test": ["10.0.0.5"],
    "rebind.test": ["::ffff:127.0.0.1"],
}


def test_names_are_judged_by_what_they_resolve_to() -> None:
    outcomes = probe(
        [f"http://{name}/" for name in ("intranet.test", "metadata.test", "rebind.test", "mixed.test")],
        names=NAMES,
    )
    assert [o.kind for o in outcomes[:3]] == ["refused"] * 3
    assert "resolves only to addresses that are not allowed" in outcomes[0].detail
    assert connected(outcomes[3]) == IPv4Address("93.184.215.14")  # the private address is dropped


def test_an_allow_listed_name_vouches_only_for_its_own_hop() -> None:
    allow = AllowList.parse(["allowed.test"])
    outcomes = probe(
        ["http://allowed.test/", "http://10.0.0.5/", "http://ＡＬＬＯＷＥＤ．test/", "http://intranet.test/"],
        allow,
        NAMES,
    )
    assert connected(outcomes[0]) == IPv4Address("10.0.0.5")
    assert outcomes[1].kind == "refused"  # the literal address is not the allow-listed name
    assert connected(outcomes[2]) == IPv4Address("10.0.0.5")  # the name after NFKC
    assert outcomes[3].kind == "refused"  # same address, a name nobody allowed


@pytest.mark.anyio
async def test_concurrent_requests_never_share_a_vouch() -> None:
    allow = AllowList.parse(["allowed.test"])
    batches = await asyncio.gather(
        *(probe_async(["http://allowed.test/", "http://10.0.0.5/"] * 5, allow, NAMES) for _ in range(10))
    )
    for outcomes in batches:
        assert [o.kind for o in outcomes] == ["reached", "refused"] * 5


def test_allow_listed_networks_let_their_addresses_through_in_any_spelling() -> None:
    allow = AllowList.parse(["10.0.0.0/8"])
    outcomes = probe(
        ["http://１０．２０．３．１５/", "http://[::ffff:10.20.3.15]/", "http://192.168.0.1/"], allow
    )
    assert connected(outcomes[0]) == IPv4Address("10.20.3.15")
    assert connected(outcomes[1]) == IPv6Address("::ffff:10.20.3.15")
    assert outcomes[2].kind == "refused"


# -- malformed URLs ----------------------------------------------------------------------------------

MALFORMED = [
    "http://[::1/x",
    "http://[zz::1]/",
    "http://[::1]x/",
    "http://[1:2:3:4:5:6:7:8:9]/",
    "http://[：：１]/",
    "http://h:99999/",
    "http://h:abc/",
    "http://h:-1/",
    "http://h:0/",
    "http://1.2.3.4:80:80/",
    "http:///x",
    "http://",
    "http://?x",
    "//8.8.8.8/",
    "8.8.8.8",
    "",
    " ",
    "http://user@8.8.8.8/",
    "http://user:pw@8.8.8.8/",
    "http://8.8.8.8:80@127.0.0.1/",
    "http://:@8.8.8.8:@/",
    "ftp://8.8.8.8/",
    "file:///etc/passwd",
    "gopher://8.8.8.8:70/",
    "javascript:alert(1)",
    "http://exa mple.com/",
    "http://a%2fb/",
    "http://\u200b8.8.8.8/",
    "http://ex\ufe6bample.com/",
    "http://-/",
    "http://a..b/",
    "http://" + "a" * 64 + ".com/",
    "http://%31%32%37.0.0.1/",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_urls_are_refused_as_malformed(text: str) -> None:
    with pytest.raises(MalformedURL):
        parse_url(text)
    [outcome] = probe([text])
    assert outcome.kind == "malformed", outcome


@settings(max_examples=500, deadline=None, database=None)
@given(
    st.text(max_size=40), st.sampled_from(["http://", "https://", "http://[", "http://x:", "http://8.8.8.8"])
)
def test_parsing_a_url_refuses_or_accepts_but_never_fails_otherwise(tail: str, head: str) -> None:
    try:
        parsed = parse_url(head + tail)
    except MalformedURL:
        return
    assert parsed.scheme in ("http", "https") and parsed.raw_host
