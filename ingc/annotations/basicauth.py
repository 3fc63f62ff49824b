"""auth-type basic, auth-secret, auth-secret-type (auth-file, auth-map), auth-realm.

The Secret's htpasswd content becomes the bundle file ``auth/<ns>-<secret>-<sha>.htpasswd`` (mode 0600, named
after its content so a rebuild never changes a file in use).  As ingress-nginx, a missing or unreadable Secret
denies the locations (503); ingc also denies when auth-secret is given without auth-type (ingress-nginx then
serves without authentication) and for auth-type digest (stock nginx has no digest module).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import (
    BASIC_CHARS,
    CHARS_WITH_SPACE,
    DENY,
    Denied,
    Handler,
    Key,
    Values,
    namespaced_ref,
    options,
    regex_value,
    register_setting,
    setting,
)
from ingc.model import secret_data
from ingc.names import NameAllocator
from ingc.settings import parse_path_list

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location

register_setting("no-auth-locations", parse_path_list)
HTPASSWD_LINE = re.compile(r"[^:\s]+:\S+")


def no_auth(loc: Location, ctx: Ctx) -> bool:
    """ingress-nginx leaves locations under the ConfigMap's no-auth-locations without authentication."""
    paths = setting(ctx, "no-auth-locations", parse_path_list, ("/.well-known/acme-challenge",))
    return any(loc.path.startswith(p) for p in paths)


@dataclass(frozen=True)
class BasicAuth:
    realm: str
    file: str


class BasicAuthHandler(Handler):
    name = "basic-auth"
    keys = (
        Key("auth-type", options("basic", "digest"), "HTTP authentication scheme (basic; digest is unsupported)",
            nginx="auth_basic \"<realm>\"; auth_basic_user_file auth/<file>; proxy_set_header Authorization \"\""),
        Key("auth-secret", regex_value(BASIC_CHARS, "a Secret reference", strip_spaces=True),
            "Secret (name or namespace/name) with the users", invalid=DENY, nginx="auth/<ns>-<secret>-<sha>.htpasswd in the bundle"),
        Key("auth-secret-type", options("auth-file", "auth-map"),
            "auth-file: key 'auth' holds an htpasswd file; auth-map: one key per user", default="auth-file",
            nginx="how the htpasswd file is built"),
        Key("auth-realm", regex_value(CHARS_WITH_SPACE, "a realm (letters, digits, spaces and -._~/:)"),
            "realm shown by the browser", default="", nginx="auth_basic \"<realm>\""),
    )

    def parse(self, v: Values, ctx: Ctx) -> BasicAuth | None:
        kind = v.get("auth-type")
        ref = v.get("auth-secret")
        if kind is None:
            if ref:
                raise Denied("auth-secret without auth-type (ingress-nginx would serve without authentication)")
            return None
        if kind == "digest":
            raise Denied("auth-type digest needs the third-party auth-digest module")
        if not ref:
            raise Denied("auth-type basic without auth-secret")
        ns, name = namespaced_ref(ref, v.ing, ctx, "auth-secret")
        obj = ctx.inventory.secrets.get((ns, name))
        if obj is None:
            raise Denied(f"auth-secret {ns}/{name} not found")
        data = secret_data(obj)
        secret_type = v.get("auth-secret-type", "auth-file")
        if secret_type == "auth-file":
            content = data.get("auth")
            if not content:
                raise Denied(f"secret {ns}/{name} has no key 'auth'")
            lines = [ln.strip() for ln in content.decode("utf-8", "replace").splitlines() if ln.strip()]
        else:
            if not data:
                raise Denied(f"secret {ns}/{name} is empty")
            lines = [f"{user}:{pw.decode('utf-8', 'replace').strip()}" for user, pw in sorted(data.items())]
        bad = [ln for ln in lines if not HTPASSWD_LINE.fullmatch(ln)]
        if bad or not lines:
            raise Denied(f"secret {ns}/{name} does not hold htpasswd lines (user:password-hash)")
        body = ("\n".join(lines) + "\n").encode()
        names: NameAllocator = ctx.state.setdefault("htpasswd-names", NameAllocator("htpasswd file", ctx.diags))
        base = names.name(f"auth/{ns}-{name}", f"{ns}/{name} {secret_type}", v.loc("auth-secret"), v.ing.ref)
        path = f"{base}-{hashlib.sha256(body).hexdigest()[:12]}.htpasswd"
        files: dict[str, bytes] = ctx.state.setdefault("files", {})
        files[path] = body
        return BasicAuth(v.get("auth-realm", ""), path)

    def location(self, feature: BasicAuth, loc: Location, ctx: Ctx) -> None:
        if no_auth(loc, ctx):
            return
        hdr = "grpc_set_header" if loc.proxy.protocol in ("GRPC", "GRPCS") else "proxy_set_header"
        loc.access += [("auth_basic", quote.ngx_quote(feature.realm)),
                       ("auth_basic_user_file", quote.ngx_quote(feature.file))]
        loc.directives.append((hdr, "Authorization", '""'))
        loc.features["basic_auth"] = feature.file
