"""ingc: an offline compiler from Kubernetes Ingress manifests to stock nginx configuration."""

__version__ = "0.1.0"
