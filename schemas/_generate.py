"""Write the bundled JSON schemas (Draft 7), one file per (apiVersion, kind), next to this script.

The schemas are written by hand from the Kubernetes API types (k8s.io/api: core/v1, networking/v1,
networking/v1beta1, extensions/v1beta1, discovery/v1) and the API server's validation rules where
those are structural (required fields, port ranges, "exactly one of" pairs).  Checks of values
(host names, path syntax, base64, timestamps) are left to later passes.

They are strict: every object with fixed fields has ``additionalProperties: false``, so a typo such
as ``servicName`` is reported.  ``status`` is typed but left open, so real ``kubectl get -o yaml``
output is accepted.

Keywords starting with ``x-ingc-`` are ignored by JSON Schema validators; ``ingc.validate`` reads
them to word its messages:

* ``x-ingc-messages``: keyword -> message used when that keyword fails at this schema node
  (``{value}`` is replaced by the offending value; the path is prefixed);
* ``x-ingc-fields``: the fields a custom "set one of" message is about (a typo of one of them
  explains the failure, so the message is dropped in favour of the unknown-field suggestion);
* ``x-ingc-hint``: appended in parentheses to a "missing required field" message;
* ``x-ingc-renamed``: unknown field -> ``{"fields": [...], "note": ...}`` for fields of another API
  version (``serviceName`` in networking.k8s.io/v1): the note replaces the "did you mean".

Run ``python schemas/_generate.py`` after editing; commit the generated files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

DRAFT7 = "http://json-schema.org/draft-07/schema#"
OUT = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- scalar building blocks

STRING: Schema = {"type": "string"}
NONEMPTY: Schema = {"type": "string", "minLength": 1}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
PORT: Schema = {"type": "integer", "minimum": 1, "maximum": 65535}
INT_OR_STRING: Schema = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
PORT_OR_NAME: Schema = {"anyOf": [PORT, NONEMPTY]}
PROTOCOL: Schema = {"type": "string", "enum": ["TCP", "UDP", "SCTP"]}
STRING_MAP: Schema = {"type": "object", "additionalProperties": STRING}
STRING_LIST: Schema = {"type": "array", "items": STRING}
OPEN_OBJECT: Schema = {"type": "object"}

# Keys of ConfigMap/Secret data: IsConfigMapKey.
CONFIG_KEYS: Schema = {
    "pattern": "^[-._a-zA-Z0-9]+$",
    "x-ingc-messages": {"pattern": 'keys may contain only letters, digits, "-", "_" and "."'},
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/definitions/{name}"}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def strict(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    """An object with fixed fields: unknown fields are errors."""
    out: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def open_object(properties: dict[str, Schema]) -> Schema:
    """Typed where known, but other fields allowed (status: written by controllers, not users)."""
    return {"type": "object", "properties": properties}


def renamed(**fields: tuple[list[str], str]) -> Schema:
    return {"x-ingc-renamed": {name: {"fields": f, "note": note} for name, (f, note) in fields.items()}}


def exactly_one(a: str, b: str, what: str) -> Schema:
    """Draft 7 if/then/else for "set exactly one of a or b"."""
    return {
        "if": {"required": [a]},
        "then": {
            "not": {"required": [b]},
            "x-ingc-messages": {"not": f"set either {what}, not both"},
        },
        "else": {
            "required": [b],
            "x-ingc-messages": {"required": f"set {what}"},
            "x-ingc-fields": [a, b],
        },
    }


# --------------------------------------------------------------------------- meta/v1

OBJECT_META = strict(
    {
        "name": NONEMPTY,
        "generateName": STRING,
        "namespace": STRING,
        "selfLink": STRING,
        "uid": STRING,
        "resourceVersion": STRING,
        "generation": INT,
        # `kubectl create --dry-run -o yaml` writes `creationTimestamp: null`.
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": STRING,
        "deletionGracePeriodSeconds": INT,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
        "ownerReferences": array(ref("OwnerReference")),
        "finalizers": STRING_LIST,
        "managedFields": array(ref("ManagedFieldsEntry")),
    },
    ["name"],
)

OWNER_REFERENCE = strict(
    {
        "apiVersion": STRING,
        "kind": STRING,
        "name": STRING,
        "uid": STRING,
        "controller": BOOL,
        "blockOwnerDeletion": BOOL,
    },
    ["apiVersion", "kind", "name", "uid"],
)

MANAGED_FIELDS_ENTRY = strict(
    {
        "manager": STRING,
        "operation": STRING,
        "apiVersion": STRING,
        "time": STRING,
        "fieldsType": STRING,
        "fieldsV1": OPEN_OBJECT,
        "subresource": STRING,
    }
)

META_DEFINITIONS: dict[str, Schema] = {
    "ObjectMeta": OBJECT_META,
    "OwnerReference": OWNER_REFERENCE,
    "ManagedFieldsEntry": MANAGED_FIELDS_ENTRY,
}

# --------------------------------------------------------------------------- core/v1 shared

OBJECT_REFERENCE = strict(
    {
        "kind": STRING,
        "namespace": STRING,
        "name": STRING,
        "uid": STRING,
        "apiVersion": STRING,
        "resourceVersion": STRING,
        "fieldPath": STRING,
    }
)

TYPED_LOCAL_OBJECT_REFERENCE = strict(
    {"apiGroup": STRING, "kind": NONEMPTY, "name": NONEMPTY},
    ["kind", "name"],
)

PORT_STATUS = open_object({"port": INT, "protocol": STRING, "error": STRING})

CONDITION = open_object(
    {
        "type": STRING,
        "status": STRING,
        "observedGeneration": INT,
        "lastTransitionTime": STRING,
        "reason": STRING,
        "message": STRING,
    }
)


def load_balancer_status(with_ip_mode: bool) -> Schema:
    entry: dict[str, Schema] = {"ip": STRING, "hostname": STRING, "ports": array(PORT_STATUS)}
    if with_ip_mode:
        entry["ipMode"] = STRING
    return open_object({"ingress": array(open_object(entry))})


# --------------------------------------------------------------------------- Ingress

PATH_TYPE: Schema = {"type": "string", "enum": ["Exact", "Prefix", "ImplementationSpecific"]}
# Whether a path is well formed for its pathType (absolute, characters) is checked by resolve (V141).
PATH: Schema = STRING
INGRESS_TLS = strict({"hosts": STRING_LIST, "secretName": STRING})


def ingress_v1() -> tuple[Schema, dict[str, Schema]]:
    v1 = "networking.k8s.io/v1"
    backend = strict(
        {"service": ref("IngressServiceBackend"), "resource": ref("TypedLocalObjectReference")},
        **exactly_one("service", "resource", "service or resource"),
        **renamed(
            serviceName=(["service"], f"{v1} uses service.name"),
            servicePort=(["service"], f"{v1} uses service.port.number or service.port.name"),
        ),
    )
    service_backend = strict(
        {"name": NONEMPTY, "port": ref("ServiceBackendPort")},
        ["name", "port"],
    )
    backend_port = strict(
        {"name": NONEMPTY, "number": PORT},
        **exactly_one("number", "name", "port number or port name"),
    )
    path = strict(
        {"path": PATH, "pathType": PATH_TYPE, "backend": ref("IngressBackend")},
        ["pathType", "backend"],
        **{
            "if": {"required": ["pathType"], "properties": {"pathType": {"enum": ["Exact", "Prefix"]}}},
            "then": {"required": ["path"], "x-ingc-hint": "required when pathType is Exact or Prefix"},
        },
    )
    rule = strict({"host": STRING, "http": ref("HTTPIngressRuleValue")})
    http = strict({"paths": array(ref("HTTPIngressPath"), minItems=1)}, ["paths"])
    spec = strict(
        {
            "ingressClassName": STRING,
            "defaultBackend": ref("IngressBackend"),
            "tls": array(ref("IngressTLS")),
            "rules": array(ref("IngressRule")),
        },
        anyOf=[{"required": ["defaultBackend"]}, {"required": ["rules"], "properties": {"rules": {"minItems": 1}}}],
        **{
            "x-ingc-messages": {"anyOf": "set defaultBackend or at least one rule"},
            "x-ingc-fields": ["defaultBackend", "rules"],
        },
        **renamed(backend=(["defaultBackend"], f"{v1} calls it defaultBackend")),
    )
    lb_ingress = open_object(
        {"ip": STRING, "hostname": STRING, "ports": array(PORT_STATUS)}
    )
    status = open_object({"loadBalancer": open_object({"ingress": array(lb_ingress)})})
    definitions = {
        "IngressSpec": spec,
        "IngressBackend": backend,
        "IngressServiceBackend": service_backend,
        "ServiceBackendPort": backend_port,
        "TypedLocalObjectReference": TYPED_LOCAL_OBJECT_REFERENCE,
        "IngressTLS": INGRESS_TLS,
        "IngressRule": rule,
        "HTTPIngressRuleValue": http,
        "HTTPIngressPath": path,
        "IngressStatus": status,
    }
    return spec, definitions


def ingress_v1beta1(api_version: str) -> tuple[Schema, dict[str, Schema]]:
    """networking.k8s.io/v1beta1 and extensions/v1beta1 (identical types)."""
    backend = strict(
        {
            "serviceName": NONEMPTY,
            "servicePort": PORT_OR_NAME,
            "resource": ref("TypedLocalObjectReference"),
        },
        **{
            "if": {"required": ["resource"]},
            "then": {
                "not": {"anyOf": [{"required": ["serviceName"]}, {"required": ["servicePort"]}]},
                "x-ingc-messages": {"not": "set either resource or serviceName/servicePort, not both"},
            },
            "else": {"required": ["serviceName", "servicePort"]},
        },
        **renamed(service=(["serviceName", "servicePort"], f"{api_version} uses serviceName and servicePort")),
    )
    path = strict(
        {"path": PATH, "pathType": PATH_TYPE, "backend": ref("IngressBackend")},
        ["backend"],
    )
    rule = strict({"host": STRING, "http": ref("HTTPIngressRuleValue")})
    http = strict({"paths": array(ref("HTTPIngressPath"), minItems=1)}, ["paths"])
    spec = strict(
        {
            "ingressClassName": STRING,
            "backend": ref("IngressBackend"),
            "tls": array(ref("IngressTLS")),
            "rules": array(ref("IngressRule")),
        },
        anyOf=[{"required": ["backend"]}, {"required": ["rules"], "properties": {"rules": {"minItems": 1}}}],
        **{
            "x-ingc-messages": {"anyOf": "set backend or at least one rule"},
            "x-ingc-fields": ["backend", "rules"],
        },
        **renamed(defaultBackend=(["backend"], f"{api_version} calls it backend")),
    )
    status = open_object({"loadBalancer": load_balancer_status(with_ip_mode=False)})
    definitions = {
        "IngressSpec": spec,
        "IngressBackend": backend,
        "TypedLocalObjectReference": TYPED_LOCAL_OBJECT_REFERENCE,
        "IngressTLS": INGRESS_TLS,
        "IngressRule": rule,
        "HTTPIngressRuleValue": http,
        "HTTPIngressPath": path,
        "IngressStatus": status,
    }
    return spec, definitions


def ingress(api_version: str) -> Schema:
    _, definitions = ingress_v1() if api_version == "networking.k8s.io/v1" else ingress_v1beta1(api_version)
    return top_level(
        api_version,
        "Ingress",
        {"spec": ref("IngressSpec"), "status": ref("IngressStatus")},
        ["spec"],
        definitions,
    )


# --------------------------------------------------------------------------- IngressClass


def ingress_class(api_version: str) -> Schema:
    parameters = strict(
        {
            "apiGroup": STRING,
            "kind": NONEMPTY,
            "name": NONEMPTY,
            "scope": {"type": "string", "enum": ["Cluster", "Namespace"]},
            "namespace": STRING,
        },
        ["kind", "name"],
    )
    spec = strict({"controller": NONEMPTY, "parameters": ref("IngressClassParametersReference")}, ["controller"])
    return top_level(
        api_version,
        "IngressClass",
        {"spec": ref("IngressClassSpec")},
        ["spec"],
        {"IngressClassSpec": spec, "IngressClassParametersReference": parameters},
    )


# --------------------------------------------------------------------------- Service


def service() -> Schema:
    port = strict(
        {
            "name": STRING,
            "protocol": PROTOCOL,
            "appProtocol": STRING,
            "port": PORT,
            "targetPort": PORT_OR_NAME,
            "nodePort": {"type": "integer", "minimum": 0, "maximum": 65535},
        },
        ["port"],
    )
    spec = strict(
        {
            "ports": array(ref("ServicePort")),
            "selector": STRING_MAP,
            "clusterIP": STRING,
            "clusterIPs": STRING_LIST,
            "type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]},
            "externalIPs": STRING_LIST,
            "sessionAffinity": {"type": "string", "enum": ["ClientIP", "None"]},
            "loadBalancerIP": STRING,
            "loadBalancerSourceRanges": STRING_LIST,
            "externalName": STRING,
            "externalTrafficPolicy": {"type": "string", "enum": ["Cluster", "Local"]},
            "healthCheckNodePort": INT,
            "publishNotReadyAddresses": BOOL,
            "sessionAffinityConfig": ref("SessionAffinityConfig"),
            "ipFamilies": array({"type": "string", "enum": ["IPv4", "IPv6"]}),
            "ipFamilyPolicy": {"type": "string", "enum": ["SingleStack", "PreferDualStack", "RequireDualStack"]},
            "allocateLoadBalancerNodePorts": BOOL,
            "loadBalancerClass": STRING,
            "internalTrafficPolicy": {"type": "string", "enum": ["Cluster", "Local"]},
            "trafficDistribution": STRING,
        }
    )
    affinity = strict({"clientIP": strict({"timeoutSeconds": INT})})
    status = open_object(
        {"loadBalancer": load_balancer_status(with_ip_mode=True), "conditions": array(CONDITION)}
    )
    return top_level(
        "v1",
        "Service",
        {"spec": ref("ServiceSpec"), "status": ref("ServiceStatus")},
        [],
        {"ServiceSpec": spec, "ServicePort": port, "SessionAffinityConfig": affinity, "ServiceStatus": status},
    )


# --------------------------------------------------------------------------- Endpoints / EndpointSlice


def endpoints() -> Schema:
    address = strict(
        {"ip": NONEMPTY, "hostname": STRING, "nodeName": STRING, "targetRef": ref("ObjectReference")},
        ["ip"],
    )
    port = strict({"name": STRING, "port": PORT, "protocol": PROTOCOL, "appProtocol": STRING}, ["port"])
    subset = strict(
        {
            "addresses": array(ref("EndpointAddress")),
            "notReadyAddresses": array(ref("EndpointAddress")),
            "ports": array(ref("EndpointPort")),
        }
    )
    return top_level(
        "v1",
        "Endpoints",
        {"subsets": array(ref("EndpointSubset"))},
        [],
        {
            "EndpointSubset": subset,
            "EndpointAddress": address,
            "EndpointPort": port,
            "ObjectReference": OBJECT_REFERENCE,
        },
    )


def endpoint_slice() -> Schema:
    conditions = strict({"ready": BOOL, "serving": BOOL, "terminating": BOOL})
    zone = strict({"name": NONEMPTY}, ["name"])
    node = strict({"name": NONEMPTY}, ["name"])
    hints = strict({"forZones": array(zone), "forNodes": array(node)})
    endpoint = strict(
        {
            "addresses": array(STRING, minItems=1, maxItems=100),
            "conditions": ref("EndpointConditions"),
            "hostname": STRING,
            "targetRef": ref("ObjectReference"),
            "deprecatedTopology": STRING_MAP,
            "nodeName": STRING,
            "zone": STRING,
            "hints": ref("EndpointHints"),
        },
        ["addresses"],
    )
    port = strict(
        {"name": STRING, "protocol": PROTOCOL, "port": PORT, "appProtocol": STRING},
    )
    # `endpoints` and `ports` have no omitempty: the API writes `endpoints: null` for an empty slice.
    return top_level(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        {
            "addressType": {"type": "string", "enum": ["IPv4", "IPv6", "FQDN"]},
            "endpoints": {"type": ["array", "null"], "items": ref("Endpoint"), "maxItems": 1000},
            "ports": {"type": ["array", "null"], "items": ref("EndpointPort"), "maxItems": 100},
        },
        ["addressType", "endpoints"],
        {
            "Endpoint": endpoint,
            "EndpointConditions": conditions,
            "EndpointHints": hints,
            "EndpointPort": port,
            "ObjectReference": OBJECT_REFERENCE,
        },
    )


# --------------------------------------------------------------------------- Secret / ConfigMap


def secret() -> Schema:
    data_map: Schema = {"type": "object", "propertyNames": CONFIG_KEYS, "additionalProperties": STRING}
    return top_level(
        "v1",
        "Secret",
        {"data": data_map, "stringData": data_map, "type": STRING, "immutable": BOOL},
        [],
        {},
    )


def config_map() -> Schema:
    data_map: Schema = {"type": "object", "propertyNames": CONFIG_KEYS, "additionalProperties": STRING}
    return top_level(
        "v1",
        "ConfigMap",
        {"data": data_map, "binaryData": data_map, "immutable": BOOL},
        [],
        {},
    )


# --------------------------------------------------------------------------- assembly


def top_level(
    api_version: str,
    kind: str,
    properties: dict[str, Schema],
    required: list[str],
    definitions: dict[str, Schema],
) -> Schema:
    props: dict[str, Schema] = {
        "apiVersion": {"type": "string", "const": api_version},
        "kind": {"type": "string", "const": kind},
        "metadata": ref("ObjectMeta"),
        **properties,
    }
    return {
        "$schema": DRAFT7,
        "title": f"{kind} {api_version}",
        "description": f"{kind} ({api_version}) as read by ingc; generated by schemas/_generate.py.",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", *required],
        "properties": props,
        "definitions": {**definitions, **META_DEFINITIONS},
    }


def file_name(api_version: str, kind: str) -> str:
    return f"{api_version.replace('/', '_')}_{kind}.json"


def all_schemas() -> dict[str, Schema]:
    schemas = [
        ingress("networking.k8s.io/v1"),
        ingress("networking.k8s.io/v1beta1"),
        ingress("extensions/v1beta1"),
        ingress_class("networking.k8s.io/v1"),
        ingress_class("networking.k8s.io/v1beta1"),
        service(),
        endpoints(),
        endpoint_slice(),
        secret(),
        config_map(),
    ]
    out: dict[str, Schema] = {}
    for s in schemas:
        props = s["properties"]
        out[file_name(props["apiVersion"]["const"], props["kind"]["const"])] = s
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, schema in all_schemas().items():
        text = json.dumps(schema, indent=2) + "\n"
        path = OUT / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(OUT.parent)}")
    if stale:
        print("out of date (run python schemas/_generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
