"""Fetching user-given links without reaching into private networks (SSRF).

Every hop's host is resolved, and every address it resolves to must be public: no loopback,
private, link-local (169.254.0.0/16 holds cloud metadata services), multicast, reserved or
unspecified address, for IPv4 and IPv6 alike. The connection then goes to the address that was
checked (with the original Host header and TLS name), so a DNS answer cannot change between the
check and the request. Redirects are followed by hand, a few at most, each hop checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class BlockedLinkError(Exception):
    """The link cannot be fetched safely; the message is a sentence for the user."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress, *, allow_loopback: bool = False) -> bool:
    """Whether the bot may connect there: a globally routed, non-multicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        elif address.is_site_local:  # fec0::/10, deprecated but still private
            return False
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


class GuardedClient:
    """An httpx client that only ever talks to public addresses."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._http = http
        self._allow_loopback = allow_loopback
        self._resolve = resolver
        self._max_redirects = max_redirects

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Like httpx's `stream`, following redirects, every hop checked.

        Raises BlockedLinkError for a link that is not a public http(s) address, or that
        redirects too often or into a private network.
        """
        for _ in range(self._max_redirects + 1):
            request = await self._pinned_request(method, url, headers or {})
            response = await self._http.send(request, stream=True, follow_redirects=False)
            if response.status_code in _REDIRECTS and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                await response.aclose()
                continue
            try:
                yield response
            finally:
                await response.aclose()
            return
        raise BlockedLinkError(
            f"That link redirects more than {self._max_redirects} times; "
            "send the video's own address."
        )

    async def _pinned_request(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> httpx.Request:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError as exc:  # e.g. "http://[::1/x": a broken IPv6 literal
            raise BlockedLinkError("That link is not a valid web address.") from exc
        if parts.scheme not in ("http", "https") or not host:
            raise BlockedLinkError("That link is not a web (http or https) address I can use.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise BlockedLinkError("That link has a port number that is not valid.") from exc
        address = await self._public_address(host, port)
        shown_host = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{shown_host}:{parts.port}" if parts.port else shown_host
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return self._http.build_request(
            method,
            pinned,
            headers={**headers, "Host": parts.netloc.rpartition("@")[2]},
            extensions={"sni_hostname": host} if parts.scheme == "https" else {},
        )

    async def _public_address(self, host: str, port: int) -> IPAddress:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            try:
                found = await self._resolve(host, port)
            except OSError as exc:
                raise BlockedLinkError(
                    f"The address {host} does not exist (it has no DNS entry)."
                ) from exc
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
        else:
            addresses = [literal]
        if not addresses:
            raise BlockedLinkError(f"The address {host} does not exist (it has no DNS entry).")
        if not all(is_public(a, allow_loopback=self._allow_loopback) for a in addresses):
            raise BlockedLinkError(
                "That link points into a private or local network, which I don't fetch from. "
                "Send a public link to the video."
            )
        return addresses[0]
