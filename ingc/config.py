"""`.ingc.yaml`: default options, disabled rules, severities and per-path overrides for `ingc check`.

Searched upward from the working directory (yamllint's model) unless ``--config FILE`` names one::

    options:                 # defaults for command-line options, by their long name
      kubernetes-version: "1.30"
      require-references: true
    disable: [R310]          # rules never reported
    severity:                # a rule's severity: error, warning, info or off (= disabled)
      R303: error
    overrides:               # for findings in files matching a glob (relative to this file's directory)
      - files: ["legacy/**"]
        disable: [V130]
        severity: {R301: info}

Only the standard library and pyyaml: loaded before the command runs, so it must stay cheap.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

CONFIG_NAME = ".ingc.yaml"
LEVELS = ("error", "warning", "info", "off")
CODE = re.compile(r"^[A-Z][0-9]{3}$")


class ConfigError(ValueError):
    """The configuration file is unreadable or malformed (a usage error: exit 2)."""


@dataclass(frozen=True)
class Override:
    files: tuple[str, ...]
    disable: frozenset[str] = frozenset()
    severity: tuple[tuple[str, str], ...] = ()

    def matches(self, rel_path: str) -> bool:
        return any(glob_regex(g).fullmatch(rel_path) for g in self.files)


@dataclass(frozen=True)
class Config:
    path: str = ""  # "" when no file was found
    options: dict[str, Any] = field(default_factory=dict)
    disable: frozenset[str] = frozenset()
    severity: tuple[tuple[str, str], ...] = ()
    overrides: tuple[Override, ...] = ()

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def relative(self, file: str) -> str:
        """A finding's file path relative to the configuration file's directory (``/`` separators)."""
        try:
            rel = os.path.relpath(os.path.abspath(file), self.base_dir)
        except ValueError:
            rel = file
        return rel.replace(os.sep, "/")

    def level_for(self, code: str, file: str | None) -> str | None:
        """The configured level of ``code`` for a finding in ``file``: a LEVELS value, or None (unchanged)."""
        level: str | None = "off" if code in self.disable else dict(self.severity).get(code)
        if file and self.overrides:
            rel = self.relative(file)
            for ov in self.overrides:
                if ov.matches(rel):
                    if code in ov.disable:
                        level = "off"
                    elif code in dict(ov.severity):
                        level = dict(ov.severity)[code]
        return level


@cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` crosses directories, ``*`` and ``?`` do not; a pattern without ``/`` matches a base name
    anywhere (as .gitignore does)."""
    if "/" not in pattern:
        pattern = "**/" + pattern
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out))


def find_config(start: str | None = None) -> str | None:
    """The nearest ``.ingc.yaml`` in ``start`` (default: the working directory) or a parent."""
    d = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(d, CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _codes(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and CODE.match(v) for v in value):
        raise ConfigError(f"{where}: must be a list of rule codes such as R301")
    return frozenset(value)


def _severity(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must map rule codes to one of {', '.join(LEVELS)}")
    out = []
    for k, v in value.items():
        if not isinstance(k, str) or not CODE.match(k):
            raise ConfigError(f"{where}: {k!r} is not a rule code")
        if v is False:
            v = "off"  # YAML 1.1 reads a bare `off` as false
        if not isinstance(v, str) or v.lower() not in LEVELS:
            raise ConfigError(f"{where}.{k}: {v!r} is not one of {', '.join(LEVELS)}")
        out.append((k, v.lower()))
    return tuple(sorted(out))


def parse_config(text: str, path: str) -> Config:
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping")
    unknown = set(data) - {"options", "disable", "severity", "overrides"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                          "(expected options, disable, severity, overrides)")
    options = data.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise ConfigError(f"{path}: options must map option names to values")
    overrides = []
    raw_overrides = data.get("overrides") or []
    if not isinstance(raw_overrides, list):
        raise ConfigError(f"{path}: overrides must be a list")
    for i, ov in enumerate(raw_overrides):
        where = f"{path}: overrides[{i}]"
        if not isinstance(ov, dict) or set(ov) - {"files", "disable", "severity"}:
            raise ConfigError(f"{where}: expected a mapping with files, disable and severity")
        files = ov.get("files")
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
            raise ConfigError(f"{where}.files: must be a list of glob patterns")
        overrides.append(Override(tuple(f.removeprefix("./") for f in files), _codes(ov.get("disable"),
                                  f"{where}.disable"), _severity(ov.get("severity"), f"{where}.severity")))
    return Config(path, {k.replace("_", "-"): v for k, v in options.items()},
                  _codes(data.get("disable"), f"{path}: disable"), _severity(data.get("severity"),
                                                                             f"{path}: severity"),
                  tuple(overrides))


def load_config(path: str | None = None, search: bool = True) -> Config:
    """``path`` if given, else the nearest ``.ingc.yaml`` (when ``search``), else an empty Config."""
    if not path:
        path = find_config() if search else None
        if not path:
            return Config()
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    return parse_config(text, path)
