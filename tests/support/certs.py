"""Test certificates and Kubernetes TLS Secrets, made with ``cryptography``."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "PrivateKey",
    "cert_info",
    "make_ca",
    "make_cert",
    "private_key",
    "tls_secret_yaml",
    "write_cert",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KeyType = Literal["ec", "rsa"]
Pem = str | bytes

_KEY_CACHE: dict[tuple[KeyType, int], PrivateKey] = {}


def private_key(key_type: KeyType = "ec", index: int = 0) -> PrivateKey:
    """A cached private key: ``ec`` (P-256) or ``rsa`` (2048 bit).

    Keys are cached per ``(key_type, index)`` so tests stay fast; pass a
    different ``index`` to get a distinct key.
    """
    cache_key = (key_type, index)
    key = _KEY_CACHE.get(cache_key)
    if key is None:
        if key_type == "ec":
            key = ec.generate_private_key(ec.SECP256R1())
        elif key_type == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unknown key type {key_type!r}")
        _KEY_CACHE[cache_key] = key
    return key


def _load_key(key: PrivateKey | Pem) -> PrivateKey:
    if isinstance(key, (str, bytes)):
        data = key.encode() if isinstance(key, str) else key
        loaded = serialization.load_pem_private_key(data, password=None)
        if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise TypeError("only RSA and EC keys are supported")
        return loaded
    return key


def _key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def make_cert(
    hosts: list[str],
    *,
    cn: str | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | Pem | None = None,
    key_type: KeyType = "ec",
    issuer: tuple[Pem, Pem] | None = None,
    is_ca: bool = False,
) -> tuple[str, str]:
    """Make a certificate for ``hosts``; returns ``(cert_pem, key_pem)`` as text.

    ``hosts`` become subjectAltNames (IP literals as IP SANs, the rest as DNS
    names, wildcards allowed).  ``cn`` defaults to the first host.  Validity
    defaults to one day ago until 30 days ahead (naive datetimes are UTC).
    Self-signed unless ``issuer=(ca_cert_pem, ca_key_pem)`` (see
    :func:`make_ca`).
    """
    priv = _load_key(key) if key is not None else private_key(key_type)
    common_name = cn if cn is not None else (hosts[0] if hosts else "ingc-test")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    start = not_before if not_before is not None else now - dt.timedelta(days=1)
    end = not_after if not_after is not None else now + dt.timedelta(days=30)

    if issuer is not None:
        ca_cert = x509.load_pem_x509_certificate(
            issuer[0].encode() if isinstance(issuer[0], str) else issuer[0]
        )
        signing_key = _load_key(issuer[1])
        issuer_name = ca_cert.subject
    else:
        signing_key = priv
        issuer_name = subject

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(priv.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    cert = builder.sign(signing_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(priv)


def make_ca(cn: str = "ingc test CA", *, key_type: KeyType = "ec") -> tuple[str, str]:
    """A self-signed CA certificate ``(cert_pem, key_pem)`` for ``make_cert(issuer=...)``."""
    return make_cert([], cn=cn, key=private_key(key_type, index=1000), is_ca=True)


def write_cert(
    directory: str | os.PathLike[str], name: str, cert_pem: Pem, key_pem: Pem
) -> tuple[Path, Path]:
    """Write ``NAME.crt`` and ``NAME.key`` into ``directory``; returns both paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    crt, keyf = d / f"{name}.crt", d / f"{name}.key"
    crt.write_bytes(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    keyf.write_bytes(key_pem.encode() if isinstance(key_pem, str) else key_pem)
    return crt, keyf


def _b64(data: Pem) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def tls_secret_yaml(
    namespace: str, name: str, cert_pem: Pem, key_pem: Pem, *, ca_pem: Pem | None = None
) -> str:
    """A ``kubernetes.io/tls`` Secret manifest (YAML text, base64 ``data``)."""
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "type: kubernetes.io/tls",
        "data:",
        f"  tls.crt: {_b64(cert_pem)}",
        f"  tls.key: {_b64(key_pem)}",
    ]
    if ca_pem is not None:
        lines.append(f"  ca.crt: {_b64(ca_pem)}")
    return "\n".join(lines) + "\n"


def cert_info(cert: x509.Certificate | bytes | str) -> tuple[str | None, list[str]]:
    """``(subject CN, SANs)`` of a certificate given as object, DER bytes or PEM text."""
    if isinstance(cert, str):
        cert = x509.load_pem_x509_certificate(cert.encode())
    elif isinstance(cert, bytes):
        if cert.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(cert)
        else:
            cert = x509.load_der_x509_certificate(cert)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans: list[str] = []
    else:
        sans = [str(v) for v in ext.get_values_for_type(x509.DNSName)]
        sans += [str(v) for v in ext.get_values_for_type(x509.IPAddress)]
    return cn, sans
