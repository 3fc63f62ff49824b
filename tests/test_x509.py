from __future__ import annotations

import base64
import random
import re
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ingc.resources import data_file
from ingc.x509 import CertInfo, check_pair, covers, parse_certificate

UTC = timezone.utc
_KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]


def make_cert(
    cn: str | None = "example.com",
    sans: list[str] | None = None,
    *,
    not_before: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    not_after: datetime = datetime(2034, 1, 1, tzinfo=UTC),
    issuer_cn: str = "Test CA",
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
    ip_sans: bool = False,
) -> tuple[bytes, bytes]:
    key = key or _KEYS[0]
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")]
        + ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn is not None else [])
    )
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)])
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if sans is not None or ip_sans:
        general: list[x509.GeneralName] = [x509.DNSName(s) for s in sans or []]
        if ip_sans:
            import ipaddress

            general.insert(0, x509.IPAddress(ipaddress.ip_address("10.0.0.1")))
            general.append(x509.RFC822Name("a@b.example"))
        b = b.add_extension(x509.SubjectAlternativeName(general), critical=False)
    cert = b.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def info(cn: str | None = None, sans: list[str] | None = None) -> CertInfo:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    return CertInfo(cn, sans or [], t, t, None)


def test_san_certificate() -> None:
    cert, _ = make_cert("Example Site", ["example.com", "www.example.com"], ip_sans=True)
    ci = parse_certificate(cert)
    assert ci is not None
    assert ci.subject_cn == "Example Site"
    assert ci.issuer_cn == "Test CA"
    assert ci.dns_names == ["example.com", "www.example.com"]
    assert ci.not_before == datetime(2024, 1, 1, tzinfo=UTC)
    assert ci.not_after == datetime(2034, 1, 1, tzinfo=UTC)
    assert ci.not_before.tzinfo is not None
    assert covers(ci, "example.com")
    assert covers(ci, "WWW.Example.COM.")
    assert not covers(ci, "Example Site")  # the CN is ignored when there are DNS SANs
    assert not covers(ci, "api.example.com")
    assert not covers(ci, "10.0.0.1")


def test_wildcard() -> None:
    cert, _ = make_cert("x", ["*.example.com"])
    ci = parse_certificate(cert)
    assert ci is not None and ci.dns_names == ["*.example.com"]
    assert covers(ci, "a.example.com")
    assert covers(ci, "xn--bcher-kva.example.com")
    assert not covers(ci, "example.com")
    assert not covers(ci, "a.b.example.com")
    assert not covers(ci, ".example.com")
    assert not covers(ci, "a.example.org")
    assert covers(ci, "*.example.com")  # a wildcard Ingress host, same wildcard
    assert not covers(info(sans=["a.example.com"]), "*.example.com")


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*.com", "example.com", False),  # too broad
        ("a*.example.com", "ab.example.com", False),  # partial-label wildcards are not honoured
        ("*a.example.com", "ba.example.com", False),
        ("www.*.example.com", "www.a.example.com", False),
        ("*.*.example.com", "a.b.example.com", False),
        ("*.example.com.", "a.example.com", True),
        ("EXAMPLE.com", "example.COM", True),
        ("", "", False),
        ("example.com", "", False),
    ],
)
def test_match_rules(pattern: str, host: str, expected: bool) -> None:
    assert covers(info(sans=[pattern]), host) is expected


def test_cn_only() -> None:
    cert, _ = make_cert("shop.example.com")
    ci = parse_certificate(cert)
    assert ci is not None
    assert ci.dns_names == []
    assert ci.subject_cn == "shop.example.com"
    assert covers(ci, "shop.example.com")
    assert not covers(ci, "example.com")
    assert covers(info(cn="*.example.com"), "a.example.com")
    nocn, _ = make_cert(None)
    ci2 = parse_certificate(nocn)
    assert ci2 is not None and ci2.subject_cn is None
    assert not covers(ci2, "example.com")


def test_dates_expired_and_far_future() -> None:
    cert, _ = make_cert(
        "old.example.com",
        not_before=datetime(1999, 5, 6, 7, 8, 9, tzinfo=UTC),
        not_after=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
    )
    ci = parse_certificate(cert)
    assert ci is not None
    assert ci.not_before == datetime(1999, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert ci.not_after == datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert not ci.valid_at(datetime.now(UTC))
    assert ci.valid_at(datetime(2000, 1, 1, tzinfo=UTC))

    # UTCTime up to 2049, GeneralizedTime from 2050 on.
    cert, _ = make_cert(
        not_before=datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), not_after=datetime(2050, 1, 1, tzinfo=UTC)
    )
    ci = parse_certificate(cert)
    assert ci is not None
    assert ci.not_before == datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert ci.not_after == datetime(2050, 1, 1, tzinfo=UTC)
    assert not ci.valid_at(datetime.now(UTC))


def test_first_certificate_of_a_chain() -> None:
    leaf, _ = make_cert("leaf.example.com", ["leaf.example.com"])
    ca, _ = make_cert("ca", ["ca.example.com"], key=_KEYS[1])
    ci = parse_certificate(b"junk before\n" + leaf + ca)
    assert ci is not None and ci.dns_names == ["leaf.example.com"]


def test_garbage() -> None:
    cert, key = make_cert("example.com", ["example.com"])
    body = re.search(rb"-----BEGIN CERTIFICATE-----(.*)-----END", cert, re.DOTALL)
    assert body is not None
    der = base64.b64decode(b"".join(body.group(1).split()))

    def pem_of(data: bytes) -> bytes:
        return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(data) + b"-----END CERTIFICATE-----\n"

    assert parse_certificate(pem_of(der)) is not None
    for bad in [b"", b"hello", key, b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                pem_of(b""), pem_of(b"\x30\x80\x00\x00"), pem_of(b"\x30\x84\xff\xff\xff\xff"),
                pem_of(der[:-1]), pem_of(der[: len(der) // 2]), pem_of(b"\x04\x03abc"), "text"]:
        assert parse_certificate(bad) is None  # type: ignore[arg-type]

    rng = random.Random(1234)
    for _ in range(3000):
        mutated = bytearray(der)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        parse_certificate(pem_of(bytes(mutated)))  # must not raise
    for _ in range(300):
        parse_certificate(pem_of(der[: rng.randrange(len(der))]))
        parse_certificate(pem_of(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))))


def test_pairs() -> None:
    cert, key = make_cert("example.com", ["example.com"])
    assert check_pair(cert, key) is None
    _, other_key = make_cert("example.com", key=_KEYS[1])
    err = check_pair(cert, other_key)
    assert err is not None and "does not match" in err

    assert check_pair(b"garbage", key) is not None
    assert check_pair(cert, b"garbage") == "no PEM private key found"
    broken = key.replace(key.splitlines()[2], b"A" * 64)
    assert check_pair(cert, broken) == "OpenSSL cannot read the private key"
    assert check_pair(cert + key, cert + key) is None  # one file holding both, as in a bundle

    encrypted = _KEYS[0].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    err = check_pair(cert, encrypted)
    assert err is not None and "encrypted" in err


def test_rsa_pair_and_traditional_format() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert, _ = make_cert("rsa.example.com", key=rsa_key)
    traditional = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert traditional.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert check_pair(cert, traditional) is None
    err = check_pair(cert, make_cert()[1])
    assert err is not None and "does not match" in err


def test_shipped_fake_certificate() -> None:
    pem = data_file("default-fake-certificate.pem").read_bytes()
    ci = parse_certificate(pem)
    assert ci is not None
    assert ci.subject_cn == "ingc default fake certificate (not for production)"
    assert ci.issuer_cn == ci.subject_cn
    assert ci.dns_names == ["ingress.local"]
    assert ci.not_before == datetime(2025, 1, 1, tzinfo=UTC)
    assert ci.not_after == datetime(2125, 1, 1, tzinfo=UTC)
    assert covers(ci, "ingress.local")
    assert check_pair(pem, pem) is None
    loaded = x509.load_pem_x509_certificate(pem)
    assert isinstance(loaded.public_key(), rsa.RSAPublicKey)
    assert loaded.public_key().key_size == 2048  # type: ignore[union-attr]
    assert loaded.not_valid_after_utc - loaded.not_valid_before_utc == timedelta(days=36524)
