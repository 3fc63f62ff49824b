"""Chains the passes: load -> validate -> model -> settings -> resolve -> prepare -> render -> verify.

Each pass can be called alone; this module only wires them and never prints.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ingc.diagnostics import Diagnostics, Loc
from ingc.ir import NginxConfig
from ingc.load import Limits, _measure, _too_deep, load_documents
from ingc.model import Inventory, build_inventory
from ingc.options import Options
from ingc.resolve import Result, resolve
from ingc.settings import Settings, parse_settings
from ingc.source import Document


@dataclass
class CompileResult:
    diags: Diagnostics
    documents: list[Document] = field(default_factory=list)
    sources: int = 0
    skipped_kinds: dict[str, int] = field(default_factory=dict)
    inventory: Inventory | None = None
    resolved: Result | None = None
    conf: bytes | None = None  # nginx.conf, UTF-8

    @property
    def text(self) -> str | None:
        return self.conf.decode("utf-8") if self.conf is not None else None

    @property
    def config(self) -> NginxConfig | None:
        return self.resolved.config if self.resolved else None

    @property
    def nothing(self) -> bool:
        """Nothing to compile: no source read, or no Kubernetes object of a kind ingc reads."""
        return self.sources == 0 or not self.documents


def read_controller_config(path: str, limits: Limits) -> Any:
    """The --controller-config file, under the same limits as the manifests (size, nesting, aliases)."""
    with open(path, "rb") as fh:
        raw = fh.read(limits.max_file_bytes + 1)
    if len(raw) > limits.max_file_bytes:
        raise ValueError(f"over the limit of {limits.max_file_bytes} bytes (--max-file-size)")
    text = raw.decode("utf-8-sig")  # UnicodeDecodeError is a ValueError
    if _too_deep(text, limits.max_depth) is not None:
        raise ValueError(f"nesting deeper than {limits.max_depth} levels (--max-depth)")
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except (KeyError, AttributeError, TypeError, OverflowError) as exc:  # PyYAML's constructors on bad tags
        raise ValueError(f"a value cannot be read ({type(exc).__name__})") from exc
    problem = _measure(data, limits, [0]) if "*" in text else None
    if problem:
        raise ValueError(problem)
    return data


def load_settings(inv: Inventory, opts: Options, diags: Diagnostics) -> Settings:
    values: dict[str, str] = {}
    locs: dict[str, Loc] = {}
    if opts.controller_config:
        try:
            data = read_controller_config(opts.controller_config, opts.limits)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            diags.error("S103", f"--controller-config {opts.controller_config}: {exc}", file=opts.controller_config)
            data = {}
        if isinstance(data, dict) and isinstance(data.get("data"), dict) and data.get("kind") == "ConfigMap":
            data = data["data"]
        if not isinstance(data, dict):
            diags.error("S103", "--controller-config must be a mapping of ConfigMap keys to string values",
                        file=opts.controller_config)
            data = {}
        values.update({str(k): v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
                       for k, v in data.items()})
    if opts.configmap:
        ns, _, name = opts.configmap.partition("/")
        cm = inv.configmaps.get((ns, name))
        if cm is None:
            diags.error("S104", f"--configmap {opts.configmap}: no such ConfigMap in the input")
        else:
            for k, v in (cm.data.get("data") or {}).items():
                values[str(k)] = v
                locs[str(k)] = cm.loc("data", k)
    source = "ConfigMap" if opts.configmap else "controller config"
    return parse_settings(values, diags, locs.get, source)


def compile_sources(paths: Sequence[str], opts: Options, diags: Diagnostics | None = None,
                    render_text: bool = True, lean: bool = False) -> CompileResult:
    """Run every pass.  `lean` (ingc build) drops the parsed manifests once the IR exists, to bound
    memory; findings keep their positions (they re-read the source text)."""
    diags = diags if diags is not None else Diagnostics()
    # The passes allocate many small objects and free almost none until the end: the cyclic GC would
    # only rescan them over and over.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(paths, opts, diags, render_text, lean)
    finally:
        if enabled:
            gc.enable()


def _compile(paths: Sequence[str], opts: Options, diags: Diagnostics, render_text: bool,
             lean: bool) -> CompileResult:
    from ingc.validate import validate_documents

    docs, read = load_documents(paths, diags, opts.limits, opts.stdin_filename)
    result = CompileResult(diags, sources=read)
    vres = validate_documents(docs, diags)
    result.documents = vres.valid
    result.skipped_kinds = dict(vres.skipped)
    inv = build_inventory(vres.valid, diags, opts.namespace)
    result.inventory = inv
    settings = load_settings(inv, opts, diags)
    result.resolved = resolve(inv, opts, settings, diags)
    if lean:
        result.inventory = None
        result.resolved.ctx.inventory = None
        del inv, vres
        for doc in docs:
            doc.data = {}
        docs.clear()
    if not render_text:
        return result
    from ingc.prepare import prepare
    from ingc.render import render_to

    cfg = prepare(result.resolved.config)
    with tempfile.TemporaryFile("w+b") as fh:
        render_to(cfg, fh)
        if lean:  # printed: the prepared text lists are not needed any more
            for srv in cfg.servers:
                srv.text = []
                for loc in srv.locations:
                    loc.text = []
                    loc.out = []
        fh.seek(0)
        result.conf = fh.read()
    if opts.verify:
        from ingc.verify import verify

        gc.enable()
        verify(result.conf, cfg, diags)
    return result
