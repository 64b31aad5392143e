"""Self-signed DTLS certificates for FFmpeg's WHIP muxer.

FFmpeg generates a P-224 key by default, which this OpenSSL refuses for DTLS; an ECDSA P-256
certificate passed through the muxer's ``cert_file``/``key_file`` options works.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_NAME = "whip-cert.pem"
KEY_NAME = "whip-key.pem"


@dataclass(frozen=True)
class CertPaths:
    """PEM files of one certificate and its private key."""

    cert_file: Path
    key_file: Path


def _build_certificate(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def generate_cert(directory: Path, common_name: str = "directlive-whip-test") -> CertPaths:
    """Write a fresh self-signed ECDSA P-256 certificate and key (PEM) into ``directory``.

    Existing files of the same names are overwritten. Returns their paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_certificate(key, common_name)
    paths = CertPaths(cert_file=directory / CERT_NAME, key_file=directory / KEY_NAME)
    key_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    # Key first, certificate last: ensure_cert() treats the certificate as the "done" marker.
    _write_atomically(paths.key_file, key_pem)
    _write_atomically(paths.cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return paths


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a private temporary file and rename, so concurrent readers never see halves."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_cert(directory: Path) -> CertPaths:
    """Return the certificate in ``directory``, generating it first if either file is missing."""
    paths = CertPaths(cert_file=directory / CERT_NAME, key_file=directory / KEY_NAME)
    if paths.key_file.is_file() and paths.cert_file.is_file():
        return paths
    return generate_cert(directory)
