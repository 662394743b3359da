"""Ways to write an IP address in a URL host, including the ones HTTP stacks normalise away.

Each spelling says what a working HTTP stack turns it into, when it is an address at all: the
tests require that a forbidden address is refused in every spelling, and that a public address
in the same spelling reaches the socket as that very address (so the refusal is the guard's
decision on the normalised address, not an accident of the spelling being unreadable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import quote

DIGIT_FAMILIES: dict[str, str] = {
    "ascii": "0123456789",
    "fullwidth": "".join(chr(0xFF10 + d) for d in range(10)),
    "circled": "⓪" + "".join(chr(0x2460 + d) for d in range(9)),
    "math-bold": "".join(chr(0x1D7CE + d) for d in range(10)),
    "double-struck": "".join(chr(0x1D7D8 + d) for d in range(10)),
    "math-sans": "".join(chr(0x1D7E2 + d) for d in range(10)),
    "monospace": "".join(chr(0x1D7F6 + d) for d in range(10)),
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
    "subscript": "".join(chr(0x2080 + d) for d in range(10)),
}
DOTS: dict[str, str] = {
    "ascii": ".",
    "fullwidth": "\uff0e",
    "ideographic": "\u3002",
    "halfwidth-ideographic": "\uff61",
    "small": "\ufe52",
}


@dataclass(frozen=True)
class Spelling:
    name: str
    host: str  # as it goes between "http://" and ":port"
    means: IPv4Address | IPv6Address | None  # what a stack that accepts it connects to; None: refuse it


def _digits(text: str, family: str) -> str:
    table = DIGIT_FAMILIES[family]
    return "".join(table[int(c)] if c.isdigit() else c for c in text)


def _circled_octet(value: int) -> str:
    """An octet as one circled number where Unicode has one (NFKC makes ⑫ "12", ㊿ "50")."""
    if value == 0:
        return "⓪"
    if value <= 20:
        return chr(0x245F + value)
    if 21 <= value <= 35:
        return chr(0x3250 + value - 20)
    if 36 <= value <= 50:
        return chr(0x32B0 + value - 35)
    return _digits(str(value), "circled")


def unicode_spelling(address: IPv4Address, digits: str, dots: str) -> Spelling:
    host = DOTS[dots].join(_digits(str(o), digits) for o in address.packed)
    return Spelling(f"{digits} digits, {dots} dots", host, address)


def ipv4_spellings(address: IPv4Address) -> list[Spelling]:
    """Every spelling of an IPv4 address this module knows (about 70 of them)."""
    octets = list(address.packed)
    n = int(address)
    out = [unicode_spelling(address, digits, dots) for digits in DIGIT_FAMILIES for dots in DOTS]
    out.append(Spelling("circled numbers", "。".join(_circled_octet(o) for o in octets), address))
    out.append(
        Spelling(
            "digit full stops",  # ⒑ is "10." after NFKC
            "".join(chr(0x2487 + o) if 1 <= o <= 20 else f"{o}." for o in octets[:3]) + str(octets[3]),
            address,
        )
    )
    families = ["fullwidth", "circled", "math-bold", "ascii"]
    dots = ["\u3002", "\uff0e", "."]
    mixed = "".join(_digits(str(o), families[i]) + (dots[i] if i < 3 else "") for i, o in enumerate(octets))
    out.append(Spelling("mixed families and dots", mixed, address))
    refused: dict[str, str] = {
        "decimal integer": str(n),
        "hex integer": f"0x{n:08x}",
        "upper hex integer": f"0X{n:08X}",
        "octal integer": f"0{n:o}",
        "dotted hex": ".".join(f"0x{o:x}" for o in octets),
        "dotted octal": ".".join(f"0{o:o}" for o in octets),
        "zero-padded": ".".join(f"{o:03d}" for o in octets),
        "two parts": f"{octets[0]}.{n & 0xFFFFFF}",
        "three parts": f"{octets[0]}.{octets[1]}.{n & 0xFFFF}",
        "hex two parts": f"0x{octets[0]:x}.{n & 0xFFFFFF}",
        "fullwidth hex": _digits(f"0x{n:08x}", "fullwidth").replace("x", "\uff58"),
        "trailing dot": f"{address}.",
        "trailing fullwidth dot": f"{address}\uff0e",
        "percent-encoded digits": ".".join("".join(f"%{ord(c):02X}" for c in str(o)) for o in octets),
        "percent-encoded fullwidth": quote(_digits(str(address), "fullwidth"), safe="."),
        "null suffix": f"{address}%00",
        "zone on ipv4": f"{address}%25eth0",
    }
    out += [Spelling(name, host, None) for name, host in refused.items()]
    dotted = str(address)
    hi, lo = n >> 16, n & 0xFFFF
    carriers: dict[str, tuple[str, str]] = {
        "mapped": ("::ffff:{}", "::ffff:0:0"),
        "compatible": ("::{}", "::"),
        "translated": ("::ffff:0:{}", "::ffff:0:0:0"),
        "nat64": ("64:ff9b::{}", "64:ff9b::"),
    }
    for name, (form, prefix) in carriers.items():
        v6 = IPv6Address(int(IPv6Address(prefix)) | n)
        out.append(Spelling(f"{name} dotted", f"[{form.format(dotted)}]", v6))
        out.append(Spelling(f"{name} hex", f"[{form.format(f'{hi:x}:{lo:x}')}]", v6))
        out.append(Spelling(f"{name} exploded", f"[{v6.exploded}]", v6))
        out.append(Spelling(f"{name} upper", f"[{str(v6).upper()}]", v6))
        out.append(Spelling(f"{name} fullwidth digits", f"[{form.format(_digits(dotted, 'fullwidth'))}]", v6))
    six = IPv6Address(0x2002 << 112 | n << 80 | 1)
    out.append(Spelling("6to4", f"[{six}]", six))
    out.append(Spelling("6to4 exploded", f"[{six.exploded.upper()}]", six))
    mapped = IPv6Address(0xFFFF << 32 | n)
    out.append(Spelling("mapped with zone", f"[{mapped}%25eth0]", mapped))
    return out


def ipv6_spellings(address: IPv6Address) -> list[Spelling]:
    forms: dict[str, str] = {
        "compressed": str(address),
        "exploded": address.exploded,
        "upper": address.exploded.upper(),
        "zone id": f"{address}%25eth0",
        "numeric zone id": f"{address}%251",
    }
    out = [Spelling(name, f"[{host}]", address) for name, host in forms.items()]
    out.append(Spelling("unbracketed", str(address), None))
    out.append(Spelling("fullwidth colons", f"[{str(address).replace(':', chr(0xFF1A))}]", None))
    return out


SpellingsOf = Callable[[IPv4Address], list[Spelling]]
