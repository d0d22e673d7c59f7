"""A small proxy the client tests run as a real process, for the refusals pproxy does not make.

    python proxy_server.py http|socks5|socks4 [--auth USER:PASS] [--forbid PORT]
                           [--tls CERT KEY] [--chatty | --stall | --flood]

Listens on 127.0.0.1, a free port, prints ``PORT N`` and then one line per
tunnel (``TUNNEL host:port``). Refusals follow the protocols: HTTP CONNECT answers
407 with Proxy-Authenticate for missing or wrong credentials and 403 for a
forbidden port, 502 when the target is unreachable (RFC 9110); SOCKS5 answers
auth failure with status 1 (RFC 1929) and an unreachable target with reply 5
(connection refused, RFC 1928); SOCKS4 answers 0x5B. ``--chatty`` makes the HTTP
proxy send bytes right after its 200 (a broken proxy); ``--stall`` never answers CONNECT
(prints ``CLIENT-GONE`` when the client closes); ``--flood`` answers with headers that never
end. Each CONNECT request is printed as ``REQUEST 'head'``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import socket
import ssl
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int) -> bool:
    try:
        r2, w2 = await asyncio.open_connection(host, port)
    except OSError:
        return False
    print(f"TUNNEL {host}:{port}", flush=True)

    async def run() -> None:
        await asyncio.gather(pipe(reader, w2), pipe(r2, writer))

    asyncio.get_running_loop().create_task(run())
    return True


class Proxy:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.auth = args.auth

    async def http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        print("REQUEST " + repr(head.decode("latin-1")), flush=True)
        if self.args.stall:
            await reader.read()  # never answers; waits for the client to go
            print("CLIENT-GONE", flush=True)
            return writer.close()
        if self.args.flood:
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while True:  # headers without end
                writer.write(b"X-Filler: " + b"y" * 1000 + b"\r\n")
                await writer.drain()
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        elif self.auth and headers.get("proxy-authorization") != "Basic " + base64.b64encode(
            self.auth.encode()
        ).decode():
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="tests"\r\nContent-Length: 0\r\n\r\n'
            )
        else:
            host, _, port = target.rpartition(":")
            host = host.strip("[]")
            if int(port) in self.args.forbid:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            else:
                extra = b"unexpected" if self.args.chatty else b""
                ok = await tunnel(reader, writer, host, int(port))
                if ok:
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n" + extra)
                    return
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 2 if self.auth else 0
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            return writer.close()
        writer.write(bytes([5, wanted]))
        if self.auth:
            _, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            (plen,) = await reader.readexactly(1)
            password = await reader.readexactly(plen)
            if f"{user.decode()}:{password.decode()}" != self.auth:
                writer.write(b"\x01\x01")  # RFC 1929: failure
                await writer.drain()
                return writer.close()
            writer.write(b"\x01\x00")
        _, cmd, _, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            (n,) = await reader.readexactly(1)
            host = (await reader.readexactly(n)).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        tail = b"\x00\x01" + bytes(4) + bytes(2)
        if cmd != 1:
            writer.write(b"\x05\x07" + tail)  # command not supported
        elif port in self.args.forbid:
            writer.write(b"\x05\x02" + tail)  # not allowed by ruleset
        elif await tunnel(reader, writer, host, port):
            writer.write(b"\x05\x00" + tail)
            return
        else:
            writer.write(b"\x05\x05" + tail)  # connection refused
        await writer.drain()
        writer.close()

    async def socks4(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, cmd = await reader.readexactly(2)
        port = int.from_bytes(await reader.readexactly(2), "big")
        ip = await reader.readexactly(4)
        user = (await reader.readuntil(b"\x00"))[:-1].decode()
        host = socket.inet_ntoa(ip)
        if ip[:3] == b"\x00\x00\x00" and ip[3]:  # SOCKS4a: the name follows
            host = (await reader.readuntil(b"\x00"))[:-1].decode()
        granted = self.auth is None or user == self.auth.split(":")[0]
        if granted and cmd == 1 and port not in self.args.forbid and await tunnel(reader, writer, host, port):
            writer.write(b"\x00\x5a" + bytes(6))
            return
        writer.write(b"\x00\x5b" + bytes(6))
        await writer.drain()
        writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await getattr(self, self.args.kind)(reader, writer)
        except (asyncio.IncompleteReadError, OSError, ValueError):  # (a client that went away)
            writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("http", "socks5", "socks4"))
    parser.add_argument("--auth")
    parser.add_argument("--forbid", type=int, action="append", default=[])
    parser.add_argument("--tls", nargs=2)
    parser.add_argument("--chatty", action="store_true")
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--flood", action="store_true")
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
    server = await asyncio.start_server(Proxy(args).handle, "127.0.0.1", 0, ssl=context)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # runs until the test closes stdin


if __name__ == "__main__":
    asyncio.run(main())
