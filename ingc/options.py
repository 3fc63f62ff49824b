"""Options shared by every command: what the CLI parsed, as one dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingc.load import Limits


@dataclass
class Options:
    namespace: str = "default"
    ingress_class: str = "nginx"
    watch_without_class: bool = True
    annotations_prefix: str = "nginx.ingress.kubernetes.io"
    allow_snippet_annotations: bool = False
    risk_level: int = 3  # High
    configmap: str = ""  # ns/name among the inputs
    controller_config: str = ""  # a plain key/value YAML file
    http_port: int = 80
    https_port: int = 443
    enable_ipv6: bool = False
    cluster_domain: str = "cluster.local"
    resolver: str = ""
    endpoints: dict[str, list[str]] = field(default_factory=dict)  # "ns/svc" -> ["ip:port"]
    default_backend_service: str = ""  # ns/name
    default_ssl_certificate: str = ""  # ns/name
    disable_catch_all: bool = False
    verify: bool = True
    stdin_filename: str = "<stdin>"
    limits: Limits = field(default_factory=Limits)
