"""Backend resolution (ingress-nginx's algorithm): Service port, then EndpointSlices, Endpoints,
ClusterIP or DNS, into the server list of one upstream."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from ingc.model import Inventory, Obj
from ingc.options import Options


@dataclass
class Resolved:
    servers: list[str]
    kind: str
    needs_dns: bool = False
    problem: str = ""  # non-empty: the location answers 503 (with this reason)
    code: str = ""  # diagnostic code for the problem
    bad: list[str] = field(default_factory=list)  # addresses refused (not an IP or DNS name)


DNS_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?\Z")


def valid_address(addr: str, dns_ok: bool = False) -> bool:
    try:
        ipaddress.ip_address(addr)
        return True
    except ValueError:
        return dns_ok and len(addr) <= 253 and bool(DNS_NAME.match(addr))


def valid_port(port: object) -> bool:
    return isinstance(port, int) and 0 < port < 65536


def _ready(ep: dict[str, Any]) -> bool:
    cond = ep.get("conditions") or {}
    return cond.get("ready") is not False


def hostport(addr: str, port: int | str) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def find_service_port(svc: Obj, port: int | str) -> dict[str, Any] | None:
    want = str(port)
    for sp in (svc.data.get("spec") or {}).get("ports") or []:
        if str(sp.get("port")) == want or str(sp.get("targetPort", "")) == want or sp.get("name") == want:
            return dict(sp)
    return None


def resolve_backend(inv: Inventory, opts: Options, ns: str, svc_name: str, port: int | str) -> Resolved:
    override = opts.endpoints.get(f"{ns}/{svc_name}")
    if override:
        return Resolved(sorted(set(override)), "override")
    svc = inv.services.get((ns, svc_name))
    if svc is None:
        return Resolved([], "", problem=f'service "{svc_name}" not found in namespace "{ns}"', code="R301")
    spec = svc.data.get("spec") or {}
    sp = find_service_port(svc, port)
    if spec.get("type") == "ExternalName":
        ext = str(spec.get("externalName", ""))
        if not valid_address(ext, dns_ok=True) or ext.rstrip(".") == "localhost" or ext.startswith("127."):
            return Resolved([], "", problem=f'service "{svc_name}" has an invalid externalName {ext!r}', code="R302")
        if sp is not None:
            tp = sp.get("targetPort")
            eport = tp if isinstance(tp, int) else sp.get("port")
        elif isinstance(port, int):
            eport = port
        else:
            return Resolved([], "", problem=f'service "{svc_name}" has no port named "{port}"', code="R302")
        if not valid_port(eport):
            return Resolved([], "", problem=f'service "{svc_name}" has no usable port for {port!r}', code="R302")
        assert isinstance(eport, int)
        return Resolved([hostport(ext, eport)], "external-name", needs_dns=True)
    if sp is None:
        return Resolved([], "", problem=f'service "{svc_name}" has no port {port!r}', code="R302")
    target = sp.get("targetPort", sp.get("port"))
    sp_name = sp.get("name")
    slices = inv.slices.get((ns, svc_name))
    if slices:
        servers: set[str] = set()
        bad: list[str] = []
        dns = False
        for sl in slices:
            ports = [p for p in (sl.data.get("ports") or []) if (p.get("protocol") or "TCP") == "TCP"]
            if sp_name:
                matched = [p.get("port") for p in ports if p.get("name") == sp_name]
            else:
                matched = [p.get("port") for p in ports]
            matched = [p for p in matched if isinstance(p, int)]
            if not matched and isinstance(target, int):
                matched = [target]
            for ep in sl.data.get("endpoints") or []:
                if not _ready(ep):
                    continue
                for addr in ep.get("addresses") or []:
                    fqdn = sl.data.get("addressType") == "FQDN"
                    if not valid_address(str(addr), dns_ok=fqdn):
                        bad.append(str(addr))
                        continue
                    dns = dns or fqdn
                    for p in matched:
                        if valid_port(p):
                            servers.add(hostport(str(addr), p))
        if not servers:
            return Resolved([], "endpoints", problem=f'service "{svc_name}" has no ready endpoints',
                            code="R303", bad=bad)
        return Resolved(sorted(servers), "endpoints", needs_dns=dns, bad=bad)
    eps = inv.endpoints.get((ns, svc_name))
    if eps is not None:
        servers = set()
        for subset in eps.data.get("subsets") or []:
            ports = [p for p in (subset.get("ports") or []) if (p.get("protocol") or "TCP") == "TCP"]
            matched = [p.get("port") for p in ports if not sp_name or p.get("name") == sp_name]
            matched = [p for p in matched if isinstance(p, int)]
            if not matched and isinstance(target, int):
                matched = [target]
            for a in subset.get("addresses") or []:
                ip = str(a.get("ip"))
                if not valid_address(ip):
                    continue
                for p in matched:
                    if valid_port(p):
                        servers.add(hostport(ip, p))
        if not servers:
            return Resolved([], "endpoints-v1", problem=f'service "{svc_name}" has no ready endpoints',
                            code="R303")
        return Resolved(sorted(servers), "endpoints-v1")
    svc_port = sp.get("port")
    if not isinstance(svc_port, int):
        return Resolved([], "", problem=f'service "{svc_name}" port {port!r} has no port number', code="R302")
    cip = spec.get("clusterIP")
    if cip and cip != "None" and valid_address(str(cip)):
        return Resolved([hostport(str(cip), svc_port)], "cluster-ip")
    name = f"{svc_name}.{ns}.svc.{opts.cluster_domain}"
    return Resolved([hostport(name, svc_port)], "dns", needs_dns=True)
