"""Fetch reference audio given as a URL, under an explicit policy (off by default).

Rules, each answered with a 4xx error body:

* only ``http`` and ``https``; no user info in the URL;
* the host must be on the allow-list (``--audio_url_hosts``; ``*.example.com`` matches its
  subdomains; ``host:port`` allows that port, otherwise only the scheme's default port 80/443);
  an empty list allows nothing;
* the host is resolved and every address checked: loopback, private, link-local, multicast,
  reserved and unspecified addresses are refused unless ``--audio_url_allow_private``; the
  connection then goes to the checked address (the name is kept for ``Host`` and TLS SNI), so a
  second DNS answer cannot redirect it;
* redirects are followed by hand, at most ``max_redirects``, each target checked again;
* the body may not exceed the upload limit (by ``Content-Length`` and by counting), and the whole
  download must finish within ``timeout`` seconds;
* failures say what kind of step failed, never the resolved addresses, the upstream status or
  the connection error (which would make the server a port scanner of the hosts it may reach).

Downloads use :class:`httpx.AsyncClient`, so they never block the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from flashtts.config.settings import AudioURLPolicy
from flashtts.errors import APIError, TooLargeError

if TYPE_CHECKING:
    import httpx  # imported where a URL is fetched: servers that never fetch one never load it

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_url(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def host_allowed(host: str, allowed: tuple[str, ...], port: int | None = None, default_port: int | None = None) -> bool:
    """``host`` (and ``port``) is on the allow-list: an entry without a port allows the default port only."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        entry_port: int | None = default_port
        name, sep, tail = entry.rpartition(":")
        if sep and tail.isdigit() and not entry.endswith("]"):
            entry, entry_port = name, int(tail)
        if port is not None and entry_port is not None and port != entry_port:
            continue
        entry = entry.strip("[]")
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)


class AudioURLFetcher:
    def __init__(self, policy: AudioURLPolicy, max_bytes: int) -> None:
        self.policy = policy
        self.max_bytes = max_bytes

    def _refuse(self, param: str, message: str, code: str = "url_not_allowed",
                kind: type[APIError] = APIError) -> APIError:
        return kind(f"{param}: {message}", param=param, code=code)

    async def _resolve(self, host: str, port: int, param: str) -> IPAddress:
        """The address to connect to, after checking every address the name resolves to."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            addresses = [literal]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError):
                raise self._refuse(param, "could not download the audio from that URL",
                                   code="url_fetch_failed") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise self._refuse(param, "could not download the audio from that URL", code="url_fetch_failed")
        if not self.policy.allow_private:
            bad = [str(a) for a in addresses if not is_public(a)]
            if bad:
                raise self._refuse(param, f"host '{host}' is not allowed: it resolves to a loopback or private address")
        return addresses[0]

    async def _check(self, url: str, param: str) -> tuple[httpx.URL, dict[str, str], dict]:
        """Validate ``url``; return the pinned URL, its headers and request extensions."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise self._refuse(param, "not a valid URL", code="invalid_url") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise self._refuse(param, f"only http and https URLs are allowed, not '{scheme}'")
        host = parts.hostname or ""
        if not host or parts.username or parts.password:
            raise self._refuse(param, "the URL needs a host and may not carry user info", code="invalid_url")
        default = 443 if scheme == "https" else 80
        port = port or default
        if not host_allowed(host, self.policy.hosts, port, default):
            raise self._refuse(param, f"host '{host}' (port {port}) is not on this server's audio URL allow-list")
        ip = await self._resolve(host, port, param)
        ip_text = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        netloc = f"{ip_text}:{port}"
        pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
        headers = {"Host": host if default_port else f"{host}:{port}", "Accept": "audio/*, */*;q=0.5"}
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        import httpx

        return httpx.URL(pinned), headers, extensions

    async def fetch(self, url: str, param: str) -> bytes:
        if not self.policy.enabled:
            raise self._refuse(param, "reference audio URLs are not enabled on this server; upload the file or "
                                      "send it base64-encoded")
        try:
            return await asyncio.wait_for(self._fetch(url, param), self.policy.timeout)
        except asyncio.TimeoutError:
            raise self._refuse(param, f"downloading the audio took longer than {self.policy.timeout:g} s",
                               code="url_timeout") from None

    async def _fetch(self, url: str, param: str) -> bytes:
        import httpx

        async with httpx.AsyncClient(follow_redirects=False, timeout=self.policy.timeout, trust_env=False) as client:
            for _ in range(self.policy.max_redirects + 1):
                target, headers, extensions = await self._check(url, param)
                try:
                    async with client.stream("GET", target, headers=headers, extensions=extensions) as resp:
                        if resp.is_redirect and "location" in resp.headers:
                            url = urljoin(url, resp.headers["location"])
                            continue
                        if resp.status_code != 200:
                            raise self._refuse(param, "could not download the audio from that URL",
                                               code="url_fetch_failed")
                        return await self._read(resp, param)
                except httpx.HTTPError:
                    raise self._refuse(param, "could not download the audio from that URL",
                                       code="url_fetch_failed") from None
        raise self._refuse(param, f"more than {self.policy.max_redirects} redirects", code="url_fetch_failed")

    async def _read(self, resp: httpx.Response, param: str) -> bytes:
        too_large = self._refuse(param, f"the audio at the URL is larger than {self.max_bytes} bytes",
                                 code="file_too_large", kind=TooLargeError)
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        data = bytearray()
        async for chunk in resp.aiter_bytes():
            data += chunk
            if len(data) > self.max_bytes:
                raise too_large
        return bytes(data)
