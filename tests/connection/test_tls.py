"""wss:// with a self-signed certificate made by the test."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fastws import connect, serve
from fastws.exceptions import InvalidHandshake, InvalidURI


def make_certificate(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for ``names``: (cert.pem, key.pem) in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastws test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([san(n) for n in names]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Self-signed, for localhost / 127.0.0.1 / ::1."""
    return make_certificate(tmp_path_factory.mktemp("tls"), ["localhost", "127.0.0.1", "::1"])


@pytest.fixture(scope="module")
def localhost_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Self-signed, for the name localhost only (not the IP address)."""
    return make_certificate(tmp_path_factory.mktemp("tls-localhost"), ["localhost"])


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def trusting_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_wss_round_trip(run, impl, certificate, host: str) -> None:
    seen = []
    port = 0

    async def handler(ws: Any) -> None:
        # ws.sink is the TLS transport: never the socket underneath (fastws._socket_sink)
        seen.append((ws.request.header("Host"), ws.transport.get_extra_info("ssl_object") is not None, ws.sink is ws.transport))
        await echo(ws)

    async def main() -> None:
        nonlocal port
        async with await serve(
            handler, "127.0.0.1", 0, ssl=server_context(certificate), max_size=4 << 20
        ) as server:
            port = server.port
            uri = f"wss://{host}:{port}/secure"
            async with connect(uri, ssl=trusting_context(certificate), max_size=4 << 20) as ws:
                assert ws.transport.get_extra_info("ssl_object") is not None and ws.sink is ws.transport
                await ws.send("text over tls ✓")
                assert await ws.recv() == "text over tls ✓"
                await ws.send(b"\x00\xff" * 10)
                assert await ws.recv() == b"\x00\xff" * 10
                big = os.urandom(3 << 20)  # many TLS records, flow control through the SSL transport
                await ws.send(big)
                assert await ws.recv() == big
                for i in range(50):
                    ws.send(f"burst {i}")
                assert [await ws.recv() for _ in range(50)] == [f"burst {i}" for i in range(50)]
            assert ws.close_code == 1000
        assert seen == [(f"{host}:{port}", True, True)]

    run(main())


@pytest.mark.timeout(20)
def test_default_context_rejects_self_signed(run, certificate) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, ssl=server_context(certificate)) as server:
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                await connect(f"wss://localhost:{server.port}/")
            assert "self-signed" in str(info.value) or "self signed" in str(info.value)
            # The server survives the failed handshake and still serves trusting clients.
            async with connect(f"wss://localhost:{server.port}/", ssl=trusting_context(certificate)) as ws:
                await ws.send("after")
                assert await ws.recv() == "after"

    run(main())


@pytest.mark.timeout(20)
def test_hostname_mismatch_is_refused(run, localhost_only) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, ssl=server_context(localhost_only)) as server:
            context = trusting_context(localhost_only)
            async with connect(f"wss://localhost:{server.port}/", ssl=context) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
            # Trusted certificate, wrong name: the client must check the host it connected to.
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                await connect(f"wss://127.0.0.1:{server.port}/", ssl=context)
            assert "127.0.0.1" in str(info.value) or "mismatch" in str(info.value).lower()

    run(main())


@pytest.mark.timeout(20)
def test_plain_client_against_tls_server_fails(run, certificate) -> None:
    async def main() -> None:
        async with await serve(
            echo, "127.0.0.1", 0, ssl=server_context(certificate), open_timeout=2
        ) as server:
            # The TLS server cannot parse a plain HTTP request and drops the connection:
            # the client reports a failed handshake at once rather than hanging.
            with pytest.raises((InvalidHandshake, ConnectionError)):
                await connect(f"ws://127.0.0.1:{server.port}/", open_timeout=3)

    run(main())


@pytest.mark.timeout(20)
def test_stalled_tls_handshake_is_dropped_after_open_timeout(run, certificate) -> None:
    """Slowloris over TLS: a client that opens TCP and never finishes the TLS handshake
    must be dropped after open_timeout, like one that never finishes its HTTP request."""

    async def main() -> None:
        async with await serve(
            echo, "127.0.0.1", 0, ssl=server_context(certificate), open_timeout=0.3
        ) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
            start = time.monotonic()
            try:
                rest = await asyncio.wait_for(reader.read(), 3)
            except ConnectionResetError:
                rest = b""
            except asyncio.TimeoutError:
                pytest.fail("the server still holds the stalled TLS connection after 3 s (open_timeout=0.3)")
            finally:
                writer.close()
            assert rest == b""
            assert time.monotonic() - start < 2

    run(main())


def test_ssl_context_with_ws_uri_is_refused(run, certificate) -> None:
    async def main() -> None:
        with pytest.raises(InvalidURI):
            await connect("ws://127.0.0.1:1/", ssl=trusting_context(certificate))

    run(main())
