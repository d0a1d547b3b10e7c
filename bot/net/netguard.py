"""Fetching user-given links without reaching into private networks (SSRF).

Every hop's host is resolved, and every address it resolves to must be public: no loopback,
private, link-local (169.254.0.0/16 holds cloud metadata services), multicast, reserved or
unspecified address, for IPv4 and IPv6 alike, nor an IPv6 form that carries such an IPv4 address
inside it (NAT64, 6to4, IPv4-compatible and -mapped). The connection then goes to an address
that was checked (with the original Host header and TLS name), so a DNS answer cannot change
between the check and the request. Redirects are followed by hand, a few at most, each hop
checked again. Each hop must be well formed before anything is asked: an http(s) address with a
host, and a port (if it has one) written in digits from 1 to 65535; anything else is refused with
BlockedLinkError, like a private address. Connections are not kept for reuse: each is made, and
its certificate checked, for its own host. Host names are looked up in threads of the client's
own (LinkLookups), so a slow DNS holds up nothing but other look-ups.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

from bot.domain.links import LinkRefusal
from bot.net.user_threads import PerUserPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 3
LOOKUPS_IN_FLIGHT = 4  # LINK_LOOKUPS_IN_FLIGHT's default
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedLinkError(Exception):
    """The link cannot be fetched safely, for `reason` (texts.link_blocked says it to users)."""

    def __init__(self, reason: LinkRefusal, *, host: str = "", max_redirects: int = 0) -> None:
        where = f" ({host})" if host else ""
        super().__init__(f"the link {reason.value}{where}")
        self.reason = reason
        self.host = host
        self.max_redirects = max_redirects


def look_up(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host`; blocks until it answers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


async def system_resolver(host: str, port: int) -> list[str]:
    """Look `host` up in asyncio's default pool: only for names the bot trusts to answer fast
    (the provider's), since a slow answer holds one of that pool's few threads."""
    return await asyncio.get_running_loop().run_in_executor(None, look_up, host, port)


class LinkLookups:
    """A resolver with threads of its own: at most `threads` look-ups in flight.

    Whoever writes a link chooses its host name, and so how slowly its DNS answers; a look-up
    holds its thread until the system's resolver gives up, whatever time-out its caller had. In
    asyncio's default pool such threads starved unrelated work (upload checks, the sandbox, any
    to_thread): a 12 s resolver made an upload check wait 10 s. Here they hold up only other
    look-ups of the same pool. A look-up waiting for a free thread waits inside its caller's
    time-out, and is taken off the queue when its caller gives up. One user holds at most one
    thread (bot.net.user_threads), also after his link check has given up on it.
    """

    def __init__(self, threads: int = LOOKUPS_IN_FLIGHT) -> None:
        self._pool = PerUserPool(threads, "link-lookup")

    async def __call__(self, host: str, port: int) -> list[str]:
        """UserBusyError when the user whose link this is has a look-up in flight already."""
        return await self._pool.run(partial(look_up, host, port))

    def close(self) -> None:
        """Take no more look-ups and drop the queued ones; threads stuck in the resolver are
        not waited for (each ends when the resolver answers it)."""
        self._pool.close()


def is_public(address: IPAddress, *, allow_loopback: bool = False) -> bool:
    """Whether the bot may connect there: a globally routed, non-multicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded, allow_loopback=allow_loopback)
        if address.is_site_local or address in _NAT64_LOCAL:
            return False
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that do."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if (
        address in _NAT64
        or address in _SIIT
        or (
            address in _IPV4_COMPATIBLE and int(address) > 1  # :: and ::1 are themselves
        )
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class GuardedClient:
    """An HTTP client that only ever talks to public addresses.

    Host names are looked up with `resolver`; by default, in `lookups_in_flight` threads of the
    client's own (LinkLookups), shut down by aclose.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float = 60.0,
        allow_loopback: bool = False,
        resolver: Resolver | None = None,
        lookups_in_flight: int = LOOKUPS_IN_FLIGHT,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._http = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            event_hooks={"response": [_refuse_unreadable_redirect]},
            # Videos gain nothing from compression, and a small compressed body can unpack huge.
            headers={"Accept-Encoding": "identity"},
        )
        self._allow_loopback = allow_loopback
        self._own_lookups: LinkLookups | None = None
        if resolver is None:
            resolver = self._own_lookups = LinkLookups(lookups_in_flight)
        self._resolve = resolver
        self._max_redirects = max_redirects

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._own_lookups is not None:
            self._own_lookups.close()

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Like httpx's `stream`, following redirects, every hop checked.

        Raises BlockedLinkError, before connecting, for a link that is not a well-formed public
        http(s) address, or that redirects too often, into a private network or to an address
        that is not well formed.
        """
        for _ in range(self._max_redirects + 1):
            response = await self._send(method, url, headers or {})
            if response.status_code in _REDIRECTS and "location" in response.headers:
                await response.aclose()
                try:
                    url = urljoin(url, response.headers["location"])
                except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
                    raise BlockedLinkError(LinkRefusal.BAD_REDIRECT) from exc
                continue  # the next hop is checked like the first
            try:
                yield response
            finally:
                await response.aclose()
            return
        raise BlockedLinkError(LinkRefusal.TOO_MANY_REDIRECTS, max_redirects=self._max_redirects)

    async def _send(self, method: str, url: str, headers: Mapping[str, str]) -> httpx.Response:
        """Send to the first of the host's (checked) addresses that takes the connection."""
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii")  # IDNA: bücher.example -> xn--bcher-kva...
            parts = urlsplit(url)
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise BlockedLinkError(LinkRefusal.NOT_VALID) from exc
        if parsed.scheme not in _DEFAULT_PORTS or not host:
            raise BlockedLinkError(LinkRefusal.NOT_WEB)
        port = _port(parsed, parts)
        addresses = await self._public_addresses(host, port)
        last_error: httpx.TransportError | None = None
        for address in addresses:
            shown = f"[{address}]" if address.version == 6 else str(address)
            pinned = parsed.copy_with(host=shown.strip("[]"))
            request = self._http.build_request(
                method,
                pinned,
                headers={**headers, "Host": _host_header(parsed)},
                extensions={"sni_hostname": host} if parsed.scheme == "https" else {},
            )
            try:
                return await self._http.send(request, stream=True, follow_redirects=False)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc  # that address does not answer: try the next one
        if last_error is None:  # cannot happen: addresses is never empty
            raise BlockedLinkError(LinkRefusal.NOT_VALID)
        raise last_error

    async def _public_addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                found = await self._resolve(host, port)
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
            except OSError as exc:
                raise BlockedLinkError(LinkRefusal.NO_DNS_ENTRY, host=host) from exc
            except (UnicodeError, ValueError) as exc:  # e.g. a label over 63 characters
                raise BlockedLinkError(LinkRefusal.NOT_VALID) from exc
        if not addresses:
            raise BlockedLinkError(LinkRefusal.NO_DNS_ENTRY, host=host)
        if not all(is_public(a, allow_loopback=self._allow_loopback) for a in addresses):
            raise BlockedLinkError(LinkRefusal.PRIVATE_NETWORK)
        return addresses


async def _refuse_unreadable_redirect(response: httpx.Response) -> None:
    """Refuse a redirect to a Location httpx cannot read: httpx reads it (to offer the next
    request) before `stream` sees the response, and would raise RemoteProtocolError."""
    if response.has_redirect_location:
        try:
            httpx.URL(response.headers["location"])
        except httpx.InvalidURL as exc:
            raise BlockedLinkError(LinkRefusal.BAD_REDIRECT) from exc


def _port(parsed: httpx.URL, parts: SplitResult) -> int:
    """The port to connect to, or BlockedLinkError unless it is written in ASCII digits and is
    from 1 to 65535. httpx reads a port with int() and leaves its range unchecked ("99999",
    "-1", "1_0"): the socket would then fail with an OverflowError, which no caller expects."""
    try:
        _ = parts.port  # ValueError unless ASCII digits, at most 65535
    except ValueError as exc:
        raise BlockedLinkError(LinkRefusal.BAD_PORT) from exc
    port = _DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 1 <= port <= 65535:
        raise BlockedLinkError(LinkRefusal.BAD_PORT)
    return port


def _host_header(url: httpx.URL) -> str:
    """The Host header for `url`, in its ASCII (IDNA) form, with a port that is not default."""
    host = url.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.port}" if url.port else host
