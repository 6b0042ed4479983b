"""Throwaway self-signed certificates: the HTTPS server cert and the demo app's JWT cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_self_signed(
    common_name: str,
    ips: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    days: int = 365,
    *,
    tls_only: bool = False,
) -> tuple[str, str]:
    """Return (private key PEM, certificate PEM) for a fresh self-signed cert.

    RSA-2048 by default, because JWT bearer (RS256) needs it; `tls_only` takes a P-256 key
    instead, about 100x cheaper to make, for the server certificate minted at every start."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if tls_only:
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.DNSName(d) for d in dns_names]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def public_key_from_cert(cert_pem: str) -> Any:
    """Load the public key that verifies JWT bearer assertions for an app."""
    return x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
