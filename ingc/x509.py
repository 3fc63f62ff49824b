"""Certificate helpers for TLS Secrets, standard library only.

``parse_certificate`` reads the first CERTIFICATE block of a PEM text with a small DER reader and
returns what the compiler checks (names and validity); it never raises on bad input.  ``covers``
matches a host name against those names with RFC 6125 rules.  ``check_pair`` asks the ssl module
(that is, OpenSSL, as nginx will) whether a certificate and a private key belong together.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["CertInfo", "parse_certificate", "covers", "check_pair"]


@dataclass(frozen=True)
class CertInfo:
    subject_cn: str | None
    dns_names: list[str]  # subjectAltName dNSName entries, in certificate order
    not_before: datetime  # timezone-aware (UTC)
    not_after: datetime  # timezone-aware (UTC)
    issuer_cn: str | None

    def valid_at(self, when: datetime) -> bool:
        """Is ``when`` (timezone-aware) within the validity period?"""
        return self.not_before <= when <= self.not_after


# -- PEM ------------------------------------------------------------------------------------------

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.*?)-----END CERTIFICATE-----", re.DOTALL)
_PEM_KEY = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----(.*?)-----END \1PRIVATE KEY-----", re.DOTALL)


def _pem_der(pem: bytes) -> bytes | None:
    m = _PEM_CERT.search(pem)
    if m is None:
        return None
    body = b"".join(m.group(1).split())
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


# -- DER ------------------------------------------------------------------------------------------


class _DerError(ValueError):
    pass


_SEQUENCE = 0x30
_SET = 0x31
_OID = 0x06
_OCTET_STRING = 0x04
_BOOLEAN = 0x01
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_CTX0 = 0xA0  # [0] constructed: tbsCertificate version
_CTX3 = 0xA3  # [3] constructed: tbsCertificate extensions
_DNS_NAME = 0x82  # [2] primitive: GeneralName dNSName

_OID_CN = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
_OID_SAN = bytes([0x55, 0x1D, 0x11])  # 2.5.29.17


@dataclass(frozen=True)
class _Tlv:
    tag: int
    start: int  # first content byte
    end: int  # one past the last content byte


def _tlv(data: bytes, pos: int, limit: int) -> _Tlv:
    """The TLV at ``pos``, which must end at or before ``limit``."""
    if pos + 2 > limit:
        raise _DerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("high tag numbers are not used in certificates")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise _DerError("indefinite or oversized length")
        if pos + n > limit:
            raise _DerError("truncated length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > limit:
        raise _DerError("content runs past its container")
    return _Tlv(tag, pos, pos + length)


def _children(data: bytes, parent: _Tlv) -> list[_Tlv]:
    out: list[_Tlv] = []
    pos = parent.start
    while pos < parent.end:
        child = _tlv(data, pos, parent.end)
        out.append(child)
        pos = child.end
    return out


def _expect(t: _Tlv, tag: int) -> _Tlv:
    if t.tag != tag:
        raise _DerError(f"expected tag {tag:#x}, found {t.tag:#x}")
    return t


_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "ascii",  # PrintableString
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x14: "latin-1",  # TeletexString (in practice)
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
}


def _string(data: bytes, t: _Tlv) -> str:
    codec = _STRING_CODECS.get(t.tag)
    if codec is None:
        raise _DerError(f"not a string type: {t.tag:#x}")
    return data[t.start : t.end].decode(codec, errors="replace")


def _common_name(data: bytes, name: _Tlv) -> str | None:
    """The (last) commonName in a Name, as OpenSSL and Go pick it."""
    cn: str | None = None
    for rdn in _children(data, _expect(name, _SEQUENCE)):
        for atv in _children(data, _expect(rdn, _SET)):
            parts = _children(data, _expect(atv, _SEQUENCE))
            if len(parts) != 2:
                raise _DerError("AttributeTypeAndValue needs a type and a value")
            oid = _expect(parts[0], _OID)
            if data[oid.start : oid.end] == _OID_CN:
                cn = _string(data, parts[1])
    return cn


_UTC_RE = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z")
_GEN_RE = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z")


def _time(data: bytes, t: _Tlv) -> datetime:
    text = data[t.start : t.end].decode("ascii")
    if t.tag == _UTC_TIME:
        m = _UTC_RE.fullmatch(text)
        if m is None:
            raise _DerError(f"bad UTCTime {text!r}")
        yy = int(m.group(1))
        year = 1900 + yy if yy >= 50 else 2000 + yy  # RFC 5280 4.1.2.5.1
        fields = [int(g) if g else 0 for g in m.groups()[1:]]
    elif t.tag == _GENERALIZED_TIME:
        m = _GEN_RE.fullmatch(text)
        if m is None:
            raise _DerError(f"bad GeneralizedTime {text!r}")
        year = int(m.group(1))
        fields = [int(g) for g in m.groups()[1:]]
    else:
        raise _DerError(f"not a time: {t.tag:#x}")
    month, day, hour, minute, second = fields
    if second == 60:  # a leap second: datetime has no room for it
        second = 59
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def _dns_names(data: bytes, extensions: _Tlv) -> list[str]:
    names: list[str] = []
    for ext in _children(data, _expect(extensions, _SEQUENCE)):
        parts = _children(data, _expect(ext, _SEQUENCE))
        if not parts:
            raise _DerError("empty extension")
        oid = _expect(parts[0], _OID)
        if data[oid.start : oid.end] != _OID_SAN:
            continue
        rest = parts[1:]
        if rest and rest[0].tag == _BOOLEAN:
            rest = rest[1:]
        if len(rest) != 1:
            raise _DerError("extension without a value")
        value = _expect(rest[0], _OCTET_STRING)
        general_names = _tlv(data, value.start, value.end)
        for gn in _children(data, _expect(general_names, _SEQUENCE)):
            if gn.tag == _DNS_NAME:
                names.append(data[gn.start : gn.end].decode("ascii", errors="replace"))
    return names


def _parse_der(data: bytes) -> CertInfo:
    cert = _expect(_tlv(data, 0, len(data)), _SEQUENCE)
    parts = _children(data, cert)
    if len(parts) != 3:
        raise _DerError("a certificate has three parts")
    tbs = _children(data, _expect(parts[0], _SEQUENCE))
    if tbs and tbs[0].tag == _CTX0:  # explicit version
        tbs = tbs[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then optional fields
    if len(tbs) < 6:
        raise _DerError("tbsCertificate is too short")
    issuer_cn = _common_name(data, tbs[2])
    validity = _children(data, _expect(tbs[3], _SEQUENCE))
    if len(validity) != 2:
        raise _DerError("validity needs notBefore and notAfter")
    not_before = _time(data, validity[0])
    not_after = _time(data, validity[1])
    subject_cn = _common_name(data, tbs[4])
    dns_names: list[str] = []
    for opt in tbs[6:]:
        if opt.tag == _CTX3:
            inner = _children(data, opt)
            if len(inner) != 1:
                raise _DerError("bad extensions wrapper")
            dns_names = _dns_names(data, inner[0])
    return CertInfo(subject_cn, dns_names, not_before, not_after, issuer_cn)


def parse_certificate(pem: bytes) -> CertInfo | None:
    """Names and validity of the first certificate in a PEM text; None if there is none or it is bad."""
    try:
        der = _pem_der(bytes(pem))
        if der is None:
            return None
        return _parse_der(der)
    except (ValueError, IndexError, OverflowError, TypeError):
        return None


# -- host names -----------------------------------------------------------------------------------


def _norm(name: str) -> str:
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _match(pattern: str, host: str) -> bool:
    if not pattern or not host:
        return False
    if pattern == host:
        return True
    if "*" not in pattern or host.startswith("*"):
        return False
    p_labels = pattern.split(".")
    h_labels = host.split(".")
    # Only a whole leftmost-label wildcard, with at least two labels after it (like OpenSSL).
    if p_labels[0] != "*" or any("*" in label for label in p_labels[1:]) or len(p_labels) < 3:
        return False
    if len(h_labels) != len(p_labels) or not h_labels[0]:
        return False
    return h_labels[1:] == p_labels[1:]


def covers(info: CertInfo, host: str) -> bool:
    """Does the certificate cover ``host``?  RFC 6125: DNS SANs, else the subject CN.

    ``*.foo.com`` covers ``a.foo.com`` but neither ``foo.com`` nor ``a.b.foo.com``; partial-label
    wildcards (``a*.foo.com``) and wildcards right above a top-level label (``*.com``) match nothing
    but themselves.  A wildcard host (an Ingress may say ``*.foo.com``) is covered only by the same
    wildcard.  IP addresses are never covered (no DNS name is an IP address).
    """
    h = _norm(host)
    if not h or _is_ip(h):
        return False
    names = info.dns_names if info.dns_names else ([info.subject_cn] if info.subject_cn else [])
    return any(_match(_norm(n), h) for n in names)


# -- key pairs ------------------------------------------------------------------------------------


_MISMATCH = {"KEY_VALUES_MISMATCH", "KEY_TYPE_MISMATCH", "NO_CERTIFICATE_ASSIGNED"}  # the last: another key type
_SSL_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def _no_password() -> bytes:
    return b""


def check_pair(cert_pem: bytes, key_pem: bytes) -> str | None:
    """None if the key belongs to the (first) certificate and OpenSSL accepts both; else why not."""
    if parse_certificate(cert_pem) is None:
        return "the certificate is not a readable PEM X.509 certificate"
    m = _PEM_KEY.search(key_pem)
    if m is None:
        return "no PEM private key found"
    if m.group(1) == b"ENCRYPTED " or b"ENCRYPTED" in m.group(2)[:200]:
        return "the private key is encrypted (nginx would ask for a passphrase)"
    import ssl  # imported here: most runs never load a key pair, and ssl costs milliseconds to import
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ingc-pair-") as tmp:  # mode 0700
        cert_file = os.path.join(tmp, "cert.pem")
        key_file = os.path.join(tmp, "key.pem")
        try:
            _write_private(cert_file, cert_pem)
            _write_private(key_file, key_pem)
        except OSError as e:
            return f"cannot check the certificate and key: {e.strerror or e}"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_verify_locations(cafile=cert_file)
        except (ssl.SSLError, OSError) as e:
            return f"OpenSSL cannot read the certificate: {_ssl_detail(e)}"
        try:
            ctx.load_cert_chain(cert_file, key_file, password=_no_password)
        except ssl.SSLError as e:
            if e.reason in _MISMATCH:
                return "the private key does not match the certificate"
            if e.reason == "PEM_LIB" or "PEM lib" in str(e):
                return "OpenSSL cannot read the private key"
            return f"OpenSSL rejects the certificate and key: {_ssl_detail(e)}"
        except OSError as e:
            return f"cannot check the certificate and key: {e.strerror or e}"
    return None


def _ssl_detail(e: OSError) -> str:
    import ssl

    text = e.args[1] if isinstance(e, ssl.SSLError) and len(e.args) > 1 else e.strerror or str(e)
    return _SSL_LOCATION.sub("", str(text))


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
