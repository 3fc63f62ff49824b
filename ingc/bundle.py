"""Write a bundle directory atomically: the one place ingc puts files on disk.

A bundle is what stock nginx runs with ``nginx -p DIR/ -c nginx.conf``::

    DIR/.ingc-bundle   marker: ingc owns DIR (one line of text with the format version)
    DIR/.ingc-lock     flock(2) lock serialising builds of DIR (never removed)
    DIR/nginx.conf     the configuration; replacing it is the commit point of a build
    DIR/ssl/           certificates and keys (0700, files 0600)
    DIR/auth/          htpasswd and similar files (0700, files 0600)
    DIR/logs/ DIR/tmp/ for nginx; kept as they are
    DIR/nginx.pid      written by nginx; never touched

A build writes every new file under a temporary name (``.ingc-tmp-*``) and fsyncs it, renames the
ssl/ and auth/ files into place, fsyncs those directories, then replaces ``nginx.conf`` (the commit)
and fsyncs DIR.  Only after the commit are files in ssl/ and auth/ that the new build does not list
removed, so the configuration on disk always refers to files that exist.  Names in ssl/ and auth/
are expected to be content-addressed by the caller: a new build then never changes a file the
current configuration uses.

A build that dies before the commit leaves the previous bundle as it was, plus ``.ingc-tmp-*``
files (removed at the start of the next build); only a death in the few system calls between
renaming the new ssl/ and auth/ files into place and the commit can also leave new, unreferenced
files there, which the next build removes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

FORMAT_VERSION = 1
MARKER = ".ingc-bundle"
LOCK = ".ingc-lock"
CONF = "nginx.conf"
TMP_PREFIX = ".ingc-tmp-"
KEY_DIRS = ("ssl", "auth")
NGINX_DIRS = ("logs", "tmp")

_MARKER_TEXT = (
    "This directory is an nginx bundle written by ingc, which replaces and removes files in it; "
    f"do not keep other files here. format={FORMAT_VERSION}\n"
)
_MARKER_VERSION = re.compile(rb"\bformat=(\d{1,6})\b")
_RESERVED_PREFIX = ".ingc-"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC
_CONF_MODE = 0o644
_KEY_FILE_MODE = 0o600
_KEY_DIR_MODE = 0o700


class BundleError(Exception):
    """The bundle cannot be written; the message says why and is meant for the user."""


@dataclass
class BundleResult:
    """What a build did; paths are bundle-relative (``nginx.conf``, ``ssl/x.pem``), sorted."""

    out_dir: str
    written: list[str] = field(default_factory=list)  # files (re)written, nginx.conf always among them
    unchanged: list[str] = field(default_factory=list)  # listed files already present with the same bytes
    removed: list[str] = field(default_factory=list)  # stale ssl/ and auth/ entries removed after the commit


def write_bundle(
    out_dir: str,
    conf_text: str | bytes,
    files: Mapping[str, bytes],
    *,
    lock_timeout: float = 60.0,
) -> BundleResult:
    """Write ``conf_text`` as DIR/nginx.conf and ``files`` (``ssl/NAME`` or ``auth/NAME``) atomically.

    Raises BundleError, with nothing written, when a path in ``files`` is not a plain ``ssl/NAME`` or
    ``auth/NAME``, when DIR is not empty and not marked as an ingc bundle, when ``nginx.conf``,
    ``ssl`` or ``auth`` in DIR is a symlink or of the wrong type, or when the lock cannot be taken
    within ``lock_timeout`` seconds.  Any other failure also raises BundleError.
    """
    plan = _plan(files)
    conf = conf_text.encode("utf-8") if isinstance(conf_text, str) else conf_text
    try:
        if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
            raise BundleError(f"{out_dir}: exists and is not a directory")
        os.makedirs(out_dir, exist_ok=True)
        dfd = os.open(out_dir, _DIR_FLAGS)
    except OSError as e:
        raise BundleError(f"{out_dir}: cannot create or open the bundle directory: {_why(e)}") from e
    try:
        _check_owned(dfd, out_dir)
        with _locked(dfd, out_dir, lock_timeout):
            return _build(dfd, out_dir, conf, plan)
    except OSError as e:
        raise BundleError(f"{out_dir}: cannot write the bundle: {_why(e)}") from e
    finally:
        os.close(dfd)


# -- planning -------------------------------------------------------------------------------------


def _plan(files: Mapping[str, bytes]) -> dict[str, dict[str, bytes]]:
    """Validate the bundle-relative paths; returns {"ssl": {name: data}, "auth": {...}}."""
    plan: dict[str, dict[str, bytes]] = {d: {} for d in KEY_DIRS}
    for path, data in files.items():
        top, name = _split(path)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BundleError(f"bundle file {path!r}: contents must be bytes")
        plan[top][name] = bytes(data)
    return plan


def _split(path: str) -> tuple[str, str]:
    if not isinstance(path, str) or not path:
        raise BundleError(f"bundle file path {path!r}: must be a non-empty string")
    if os.path.isabs(path) or path.startswith("/"):
        raise BundleError(f"bundle file path {path!r}: must be relative to the bundle, not absolute")
    parts = path.split("/")
    if ".." in parts:
        raise BundleError(f"bundle file path {path!r}: must not contain '..'")
    if len(parts) != 2 or parts[0] not in KEY_DIRS:
        raise BundleError(f"bundle file path {path!r}: must be ssl/NAME or auth/NAME (no subdirectories)")
    name = parts[1]
    if name in ("", "."):
        raise BundleError(f"bundle file path {path!r}: has no file name")
    if name.startswith(_RESERVED_PREFIX):
        raise BundleError(f"bundle file path {path!r}: names starting with {_RESERVED_PREFIX!r} are reserved")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise BundleError(f"bundle file path {path!r}: contains control characters")
    return parts[0], name


# -- ownership and locking ------------------------------------------------------------------------


def _check_owned(dfd: int, out_dir: str) -> None:
    """Refuse a directory that is neither empty (ingc's own lock and temp files aside) nor marked."""
    entries = os.listdir(dfd)
    if MARKER in entries:
        _check_marker(dfd, out_dir)
        return
    foreign = sorted(e for e in entries if e != LOCK and not e.startswith(TMP_PREFIX))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise BundleError(
            f"{out_dir}: refusing to write a bundle into a non-empty directory that has no {MARKER} "
            f"marker (it contains {shown}); use a new or empty directory"
        )


def _check_marker(dfd: int, out_dir: str) -> None:
    st = os.stat(MARKER, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"{out_dir}/{MARKER}: is not a regular file; refusing to use this directory")
    data = _read(dfd, MARKER, limit=4096)
    m = _MARKER_VERSION.search(data) if data is not None else None
    if m is None:
        raise BundleError(f"{out_dir}/{MARKER}: not an ingc bundle marker; refusing to use this directory")
    version = int(m.group(1))
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{out_dir}: bundle format {version} was written by a newer ingc (this one writes "
            f"format {FORMAT_VERSION}); refusing to overwrite it"
        )


@contextmanager
def _locked(dfd: int, out_dir: str, timeout: float) -> Iterator[None]:
    created = True
    try:
        lfd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=dfd)
    except FileExistsError:
        created = False
        try:
            lfd = os.open(LOCK, os.O_RDWR | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            raise BundleError(f"{out_dir}/{LOCK}: cannot open the lock file: {_why(e)}") from e
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = 0.005
        while True:
            try:
                fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BundleError(
                    f"{out_dir}: timed out after {timeout:g}s waiting for {LOCK} "
                    "(another ingc build is writing this bundle)"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.1)
        # The directory may have changed between the first check and getting the lock.
        try:
            _check_owned(dfd, out_dir)
        except BundleError:
            if created and MARKER not in os.listdir(dfd):
                _unlink_quietly(dfd, LOCK)
            raise
        yield
    finally:
        os.close(lfd)  # releases the flock


# -- the build ------------------------------------------------------------------------------------


def _build(dfd: int, out_dir: str, conf: bytes, plan: dict[str, dict[str, bytes]]) -> BundleResult:
    result = BundleResult(out_dir=out_dir)
    _check_types(dfd, out_dir)

    _remove_temps(dfd)
    if not _exists(dfd, MARKER):
        tmp = _write_temp(dfd, _MARKER_TEXT.encode(), _CONF_MODE)
        os.replace(tmp, MARKER, src_dir_fd=dfd, dst_dir_fd=dfd)
        os.fsync(dfd)
        result.written.append(MARKER)

    for name in NGINX_DIRS:
        if not _exists(dfd, name):
            os.mkdir(name, 0o755, dir_fd=dfd)

    subfds: dict[str, int] = {}
    staged: list[tuple[int, str, str]] = []  # (dir fd, temp name, final name)
    try:
        for top in KEY_DIRS:
            subfds[top] = _open_key_dir(dfd, out_dir, top)
            _remove_temps(subfds[top])
        os.fsync(dfd)

        for top in KEY_DIRS:
            sfd = subfds[top]
            for name, data in sorted(plan[top].items()):
                if _same_file(sfd, name, data):
                    result.unchanged.append(f"{top}/{name}")
                    continue
                staged.append((sfd, _write_temp(sfd, data, _KEY_FILE_MODE), name))
                result.written.append(f"{top}/{name}")
        conf_tmp = _write_temp(dfd, conf, _CONF_MODE)
        staged.append((dfd, conf_tmp, CONF))

        for sfd, tmp, name in staged[:-1]:
            os.replace(tmp, name, src_dir_fd=sfd, dst_dir_fd=sfd)
        for sfd in subfds.values():
            os.fsync(sfd)
        os.replace(conf_tmp, CONF, src_dir_fd=dfd, dst_dir_fd=dfd)  # the commit point
        staged = []
        result.written.append(CONF)
        os.fsync(dfd)

        for top in KEY_DIRS:
            try:
                result.removed.extend(_remove_stale(subfds[top], top, set(plan[top])))
            except OSError as e:
                raise BundleError(
                    f"{out_dir}: the new nginx.conf is in place, but removing stale files from "
                    f"{top}/ failed: {_why(e)}"
                ) from e
    except BaseException:
        for sfd, tmp, _ in staged:
            _unlink_quietly(sfd, tmp)
        raise
    finally:
        for sfd in subfds.values():
            os.close(sfd)

    result.written.sort()
    result.unchanged.sort()
    result.removed.sort()
    return result


def _check_types(dfd: int, out_dir: str) -> None:
    """Refuse symlinks (and wrong types) where ingc writes, before writing anything."""
    expected = {CONF: stat.S_ISREG, **{d: stat.S_ISDIR for d in KEY_DIRS}}
    for name, is_ok in expected.items():
        st = _lstat(dfd, name)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise BundleError(f"{out_dir}/{name}: is a symlink; ingc does not write through symlinks")
        if not is_ok(st.st_mode):
            kind = "regular file" if name == CONF else "directory"
            raise BundleError(f"{out_dir}/{name}: exists and is not a {kind}")
    for name in NGINX_DIRS:  # nginx writes here, ingc does not: a symlink to a directory is fine
        if _lstat(dfd, name) is not None and not stat.S_ISDIR(os.stat(name, dir_fd=dfd).st_mode):
            raise BundleError(f"{out_dir}/{name}: exists and is not a directory")


def _open_key_dir(dfd: int, out_dir: str, name: str) -> int:
    try:
        os.mkdir(name, _KEY_DIR_MODE, dir_fd=dfd)
    except FileExistsError:
        pass
    try:
        sfd = os.open(name, _DIR_FLAGS | _O_NOFOLLOW, dir_fd=dfd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BundleError(f"{out_dir}/{name}: is a symlink or not a directory; refusing to write") from e
        raise
    try:
        os.fchmod(sfd, _KEY_DIR_MODE)
    except BaseException:
        os.close(sfd)
        raise
    return sfd


def _remove_stale(sfd: int, top: str, keep: set[str]) -> list[str]:
    removed: list[str] = []
    for name in sorted(os.listdir(sfd)):
        if name in keep:
            continue
        st = _lstat(sfd, name)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            _rmtree_at(sfd, name)
        else:
            try:
                os.unlink(name, dir_fd=sfd)
            except FileNotFoundError:
                continue
        removed.append(f"{top}/{name}")
    if removed:
        os.fsync(sfd)
    return removed


def _rmtree_at(dfd: int, name: str) -> None:
    """Remove the directory ``name`` in ``dfd`` and everything in it, never following symlinks."""
    fd = os.open(name, _DIR_FLAGS | _O_NOFOLLOW, dir_fd=dfd)
    try:
        for entry in os.listdir(fd):
            st = _lstat(fd, entry)
            if st is not None and stat.S_ISDIR(st.st_mode):
                _rmtree_at(fd, entry)
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)


def _remove_temps(fd: int) -> None:
    """Remove the ``.ingc-tmp-*`` files a killed build left behind (called with the lock held)."""
    for name in os.listdir(fd):
        if name.startswith(TMP_PREFIX):
            st = _lstat(fd, name)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                _unlink_quietly(fd, name)


# -- file helpers ---------------------------------------------------------------------------------


def _write_temp(dfd: int, data: bytes, mode: int) -> str:
    """Write ``data`` to a new ``.ingc-tmp-*`` file in ``dfd``, fsync'd; returns its name."""
    while True:
        name = TMP_PREFIX + secrets.token_hex(8)
        try:
            _write_new(dfd, name, data, mode)
            return name
        except FileExistsError:
            continue


def _write_new(dfd: int, name: str, data: bytes, mode: int) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=dfd)
    try:
        os.fchmod(fd, mode)  # exact mode regardless of umask
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dfd, name)
        raise
    os.close(fd)


def _same_file(dfd: int, name: str, data: bytes) -> bool:
    """Is ``name`` already a regular key file (mode 0600) holding exactly ``data``?"""
    st = _lstat(dfd, name)
    if st is None or not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != _KEY_FILE_MODE:
        return False
    if st.st_size != len(data):
        return False
    return _read(dfd, name, limit=len(data) + 1) == data


def _read(dfd: int, name: str, limit: int) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return None
    try:
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(1 << 16, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _lstat(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _exists(dfd: int, name: str) -> bool:
    return _lstat(dfd, name) is not None


def _unlink_quietly(dfd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass


def _why(e: OSError) -> str:
    if e.strerror and e.filename is not None:
        return f"{e.strerror}: {e.filename}"
    return e.strerror or str(e)
