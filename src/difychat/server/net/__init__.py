"""Outbound HTTP to URLs a request can steer, refused unless it goes to a permitted address (SSRF guard).

``policy`` is the decision (a pure function over ``ipaddress`` objects), ``urls`` parses URLs
the way aiohttp will, ``guard`` enforces the policy on the sockets aiohttp opens, and ``client``
is the pooled client everything that fetches user-supplied URLs should use. The composition root
builds the AllowList from settings and passes it in.
"""

from difychat.server.net.client import GuardedClient
from difychat.server.net.errors import AddressRefused, MalformedURL, OutboundRefused
from difychat.server.net.guard import AllowList, guarded_connector, guarded_session
from difychat.server.net.policy import embedded_ipv4, permitted, refusal
from difychat.server.net.urls import parse_url

__all__ = [
    "AddressRefused",
    "AllowList",
    "GuardedClient",
    "MalformedURL",
    "OutboundRefused",
    "embedded_ipv4",
    "guarded_connector",
    "guarded_session",
    "parse_url",
    "permitted",
    "refusal",
]
