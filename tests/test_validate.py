"""The validate pass and the bundled schemas: codes, positions and wording of findings, acceptance of
real ``kubectl get -o yaml`` output, and the fast checker's equivalence with jsonschema."""

from __future__ import annotations

import copy
import importlib.util
import textwrap
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingc import validate as V
from ingc.diagnostics import Diagnostics, Severity
from ingc.load import Limits, parse_source
from ingc.resources import schemas_dir
from ingc.source import Document, Source
from ingc.validate import SUPPORTED, ValidationResult, compile_check, schema_for, validate_documents


def y(text: str) -> str:
    """Inline YAML: dedented, first line is line 1."""
    return textwrap.dedent(text).lstrip("\n")


def run(text: str) -> tuple[ValidationResult, Diagnostics, list[Document]]:
    diags = Diagnostics()
    docs = parse_source(Source("t.yaml", y(text)), diags, Limits())
    assert not diags.items, [d.format() for d in diags]  # the load pass found nothing
    return validate_documents(docs, diags), diags, docs


def found(diags: Diagnostics) -> list[tuple[str, str, str]]:
    out = []
    for d in diags.sorted():
        sp = d.span
        assert sp is not None
        out.append((d.code, f"{sp.line}:{sp.col}", d.message))
    return out


# --------------------------------------------------------------------------- valid manifests

KUBECTL_SERVICE = """
apiVersion: v1
kind: Service
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web","namespace":"shop"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080}],"selector":{"app":"web"}}}
  creationTimestamp: "2024-03-01T10:00:00Z"
  labels:
    app: web
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          .: {}
          f:kubectl.kubernetes.io/last-applied-configuration: {}
        f:labels:
          .: {}
          f:app: {}
      f:spec:
        f:internalTrafficPolicy: {}
        f:ports:
          .: {}
          k:{"port":80,"protocol":"TCP"}:
            .: {}
            f:name: {}
            f:port: {}
            f:protocol: {}
            f:targetPort: {}
        f:selector: {}
        f:sessionAffinity: {}
        f:type: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2024-03-01T10:00:00Z"
  name: web
  namespace: shop
  resourceVersion: "123456"
  uid: 6f1c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
spec:
  clusterIP: 10.96.12.34
  clusterIPs:
  - 10.96.12.34
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
  selector:
    app: web
  sessionAffinity: None
  type: ClusterIP
status:
  loadBalancer: {}
"""

KUBECTL_INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
  creationTimestamp: "2024-03-01T10:00:01Z"
  generation: 1
  managedFields:
  - apiVersion: networking.k8s.io/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:ingressClassName: {}
        f:rules: {}
        f:tls: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2024-03-01T10:00:01Z"
  - apiVersion: networking.k8s.io/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:status:
        f:loadBalancer:
          f:ingress: {}
    manager: nginx-ingress-controller
    operation: Update
    subresource: status
    time: "2024-03-01T10:00:30Z"
  name: web
  namespace: shop
  resourceVersion: "123470"
  uid: 0b5f2a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - backend:
          service:
            name: web
            port:
              number: 80
        path: /
        pathType: Prefix
  tls:
  - hosts:
    - shop.example.com
    secretName: shop-tls
status:
  loadBalancer:
    ingress:
    - ip: 192.0.2.10
"""

KUBECTL_ENDPOINTSLICE = """
addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints:
- addresses:
  - 10.244.1.7
  conditions:
    ready: true
    serving: true
    terminating: false
  nodeName: node-1
  targetRef:
    kind: Pod
    name: web-7d4b9c6f8-abcde
    namespace: shop
    uid: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
  zone: eu-west-1a
kind: EndpointSlice
metadata:
  annotations:
    endpoints.kubernetes.io/last-change-trigger-time: "2024-03-01T10:00:05Z"
  creationTimestamp: "2024-03-01T10:00:00Z"
  generateName: web-
  generation: 3
  labels:
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
    kubernetes.io/service-name: web
  name: web-x7k2p
  namespace: shop
  ownerReferences:
  - apiVersion: v1
    blockOwnerDeletion: true
    controller: true
    kind: Service
    name: web
    uid: 6f1c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
  resourceVersion: "123460"
  uid: 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
ports:
- name: http
  port: 8080
  protocol: TCP
"""


def _as_list_items(*docs: str) -> str:
    items = "".join("- " + textwrap.indent(y(d), "  ")[2:] for d in docs)
    return f'apiVersion: v1\nitems:\n{items}kind: List\nmetadata:\n  resourceVersion: ""\n'


VALID = [
    pytest.param(KUBECTL_SERVICE, id="kubectl-service"),
    pytest.param(KUBECTL_INGRESS, id="kubectl-ingress"),
    pytest.param(KUBECTL_ENDPOINTSLICE, id="kubectl-endpointslice"),
    pytest.param(_as_list_items(KUBECTL_SERVICE, KUBECTL_INGRESS, KUBECTL_ENDPOINTSLICE), id="kubectl-list"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: minimal, creationTimestamp: null}
        spec:
          defaultBackend:
            service: {name: web, port: {name: http}}
        """, id="ingress-v1-default-backend"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: all, namespace: shop, labels: {app: shop}}
        spec:
          ingressClassName: nginx
          tls: [{hosts: [a.example.com]}]
          rules:
          - host: a.example.com
            http:
              paths:
              - {path: /, pathType: Exact, backend: {service: {name: web, port: {number: 65535}}}}
              - pathType: ImplementationSpecific
                backend: {resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: assets}}
          - http:
              paths:
              - {path: "/api(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 1}}}}
        """, id="ingress-v1-rules-resource-backend"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1beta1
        kind: Ingress
        metadata: {name: legacy}
        spec:
          rules:
          - host: a.example.com
            http:
              paths:
              - backend: {serviceName: web, servicePort: 80}
              - path: /api
                pathType: Prefix
                backend: {serviceName: api, servicePort: http}
        """, id="ingress-v1beta1"),
    pytest.param("""
        apiVersion: extensions/v1beta1
        kind: Ingress
        metadata: {name: legacy}
        spec:
          backend: {serviceName: web, servicePort: "8080"}
        """, id="ingress-extensions-v1beta1"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: IngressClass
        metadata:
          name: nginx
          annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
        spec:
          controller: k8s.io/ingress-nginx
          parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: p, scope: Namespace,
                       namespace: ingress}
        ---
        apiVersion: networking.k8s.io/v1beta1
        kind: IngressClass
        metadata: {name: old}
        spec: {controller: k8s.io/ingress-nginx}
        """, id="ingressclass"),
    pytest.param("""
        apiVersion: v1
        kind: Service
        metadata: {name: ext}
        spec: {type: ExternalName, externalName: db.example.com}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: lb}
        spec:
          type: LoadBalancer
          externalTrafficPolicy: Local
          loadBalancerSourceRanges: [10.0.0.0/8]
          sessionAffinity: ClientIP
          sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
          ports: [{port: 443, targetPort: https, nodePort: 30443, appProtocol: https}]
        status:
          loadBalancer:
            ingress: [{ip: 192.0.2.1, ipMode: VIP, ports: [{port: 443, protocol: TCP}]}]
        """, id="service-kinds"),
    pytest.param("""
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web}
        subsets:
        - addresses: [{ip: 10.0.0.1, targetRef: {kind: Pod, name: web-1}}]
          notReadyAddresses: [{ip: 10.0.0.2, hostname: web-2, nodeName: n2}]
          ports: [{name: http, port: 8080, protocol: TCP}]
        """, id="endpoints"),
    pytest.param("""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: empty, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        endpoints: null
        ports: null
        """, id="endpointslice-empty"),
    pytest.param("""
        apiVersion: v1
        kind: Secret
        metadata: {name: tls}
        type: kubernetes.io/tls
        immutable: true
        data: {tls.crt: "LS0t", tls.key: "LS0t"}
        stringData: {extra_key-1: plain}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: ingress-nginx-controller}
        data: {use-forwarded-headers: "true", proxy-body-size: 8m}
        binaryData: {blob.bin: AAEC}
        """, id="secret-configmap"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    result, diags, docs = run(text)
    assert found(diags) == []
    assert result.valid == docs
    assert result.invalid == 0 and result.skipped == {}


def test_valid_keeps_input_order_and_counts() -> None:
    result, diags, docs = run("""
        apiVersion: v1
        kind: Service
        metadata: {name: a}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: bad}
        spec: {ports: [{port: "80x"}]}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: e}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: z}
        spec: {defaultBackend: {service: {name: a, port: {number: 80}}}}
        """)
    assert [d.name for d in result.valid] == ["a", "z"]
    assert result.skipped == {"Deployment": 2, "Pod": 1}
    assert result.invalid == 1
    assert found(diags) == [
        ("V001", "6:7", "skipped: kind Deployment is not read by ingc"),
        ("V110", "12:23", 'spec.ports[0].port: expected integer, got string "80x"'),
        ("V001", "15:7", "skipped: kind Deployment is not read by ingc"),
        ("V001", "19:7", "skipped: kind Pod is not read by ingc"),
    ]
    assert [d.severity for d in diags.sorted()].count(Severity.INFO) == 3


# --------------------------------------------------------------------------- invalid manifests

BACKEND_TYPO = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          servicName: web
"""

INVALID = [
    pytest.param(BACKEND_TYPO, [
        ("V111", "12:11", 'unknown field "servicName" in spec.rules[0].http.paths[0].backend '
                          '(did you mean "service"?)'),
    ], id="unknown-field-typo"),
    pytest.param(BACKEND_TYPO.replace("Prefix", "prefix"), [
        ("V110", "10:19", 'spec.rules[0].http.paths[0].pathType: "prefix" is not one of Exact, Prefix, '
                          "ImplementationSpecific"),
        ("V111", "12:11", 'unknown field "servicName" in spec.rules[0].http.paths[0].backend '
                          '(did you mean "service"?)'),
    ], id="enum-and-typo"),
    pytest.param("""
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          ports:
          - port: 80x
            targetPort: true
          - {port: 70000, targetPort: 0, protocol: tcp}
          - {name: x, protocl: TCP}
        """, [
        ("V110", "6:11", 'spec.ports[0].port: expected integer, got string "80x"'),
        ("V110", "7:17", "spec.ports[0].targetPort: expected integer or string, got boolean true "
                         "(put the value in quotes to make it a string)"),
        ("V110", "8:12", "spec.ports[1].port: must be between 1 and 65535, got 70000"),
        ("V110", "8:31", "spec.ports[1].targetPort: must be between 1 and 65535, got 0"),
        ("V110", "8:44", 'spec.ports[1].protocol: "tcp" is not one of TCP, UDP, SCTP'),
        ("V110", "9:5", 'missing required field "port" in spec.ports[2]'),
        ("V111", "9:15", 'unknown field "protocl" in spec.ports[2] (did you mean "protocol"?)'),
    ], id="service-ports"),
    pytest.param("""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          namespace: shop
          labels: [app]
        """, [
        ("V110", "4:3", 'missing required field "name" in metadata'),
        ("V110", "5:11", "metadata.labels: expected object, got array"),
    ], id="metadata-name-and-labels"),
    pytest.param("""
        apiVersion: v1
        kind: Secret
        data: {a: b}
        """, [
        ("V110", "1:1", 'missing required field "metadata"'),
    ], id="missing-metadata"),
    pytest.param("""
        apiVersion: v1
        kind: Secret
        metadata: {name: ""}
        immutable: "true"
        spec: {}
        """, [
        ("V110", "3:18", "metadata.name: must not be empty"),
        ("V110", "4:12", 'immutable: expected boolean, got string "true"'),
        ("V111", "5:1", 'unknown top-level field "spec"'),
    ], id="secret-types"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: web
          annotations:
            nginx.ingress.kubernetes.io/ssl-redirect: true
            nginx.ingress.kubernetes.io/proxy-body-size: 8m
        specs:
          defaultBackend: {service: {name: web, port: {number: 80}}}
        """, [
        ("V110", "6:47", 'metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"]: expected string, '
                         "got boolean true (put the value in quotes to make it a string)"),
        ("V111", "8:1", 'unknown top-level field "specs" (did you mean "spec"?)'),
    ], id="annotation-bool-and-spec-typo"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web}
        spec:
          backend: {serviceName: web, servicePort: 80}
        """, [
        ("V111", "5:3", 'unknown field "backend" in spec (networking.k8s.io/v1 calls it defaultBackend)'),
    ], id="v1beta1-spec-in-v1"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web}
        spec:
          defaultBackend: {serviceName: web, servicePort: 80}
        """, [
        ("V111", "5:20", 'unknown field "serviceName" in spec.defaultBackend (networking.k8s.io/v1 uses '
                         "service.name)"),
        ("V111", "5:38", 'unknown field "servicePort" in spec.defaultBackend (networking.k8s.io/v1 uses '
                         "service.port.number or service.port.name)"),
    ], id="v1beta1-backend-in-v1"),
    pytest.param("""
        apiVersion: extensions/v1beta1
        kind: Ingress
        metadata: {name: web}
        spec:
          backend:
            service: {name: web, port: {number: 80}}
        """, [
        ("V111", "6:5", 'unknown field "service" in spec.backend (extensions/v1beta1 uses serviceName and '
                        "servicePort)"),
    ], id="v1-backend-in-v1beta1"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web}
        spec:
          rules:
          - http:
              paths:
              - pathType: Prefix
                backend: {}
              - path: /a
                backend:
                  service: {name: web, port: {number: 80, name: http}}
                  resource: {kind: Bucket, name: b}
              - path: /b
                pathType: Exact
                backend: {service: {name: "", port: {}}}
              - {path: /c, pathType: 5, backend: {service: {name: web, port: {number: 0}}}}
        """, [
        ("V110", "8:9", 'missing required field "path" in spec.rules[0].http.paths[0] '
                        "(required when pathType is Exact or Prefix)"),
        ("V110", "9:18", "spec.rules[0].http.paths[0].backend: set service or resource"),
        ("V110", "10:9", 'missing required field "pathType" in spec.rules[0].http.paths[1]'),
        ("V110", "12:11", "spec.rules[0].http.paths[1].backend: set either service or resource, not both"),
        ("V110", "12:38", "spec.rules[0].http.paths[1].backend.service.port: set either port number or port "
                          "name, not both"),
        ("V110", "16:35", "spec.rules[0].http.paths[2].backend.service.name: must not be empty"),
        ("V110", "16:45", "spec.rules[0].http.paths[2].backend.service.port: set port number or port name"),
        ("V110", "17:30", "spec.rules[0].http.paths[3].pathType: expected string, got integer 5 "
                          "(put the value in quotes to make it a string)"),
        ("V110", "17:79", "spec.rules[0].http.paths[3].backend.service.port.number: must be between 1 and "
                          "65535, got 0"),
    ], id="ingress-v1-backends-and-paths"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: empty}
        spec:
          rules: []
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: nospec}
        """, [
        ("V110", "5:3", "spec: set defaultBackend or at least one rule"),
        ("V110", "7:1", 'missing required field "spec"'),
    ], id="ingress-without-backend"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1beta1
        kind: Ingress
        metadata: {name: legacy}
        spec:
          rules:
          - http:
              paths:
              - backend: {serviceName: web, servicePort: 0}
              - backend: {serviceName: web, servicePort: "", resource: {kind: B, name: b}}
              - backend: {serviceName: web}
              - backend: {servicePort: 80, servicName: web}
              - path: /
        """, [
        ("V110", "8:50", "spec.rules[0].http.paths[0].backend.servicePort: must be between 1 and 65535, got 0"),
        ("V110", "9:18", "spec.rules[0].http.paths[1].backend: set either resource or serviceName/servicePort, "
                         "not both"),
        ("V110", "9:50", "spec.rules[0].http.paths[1].backend.servicePort: must not be empty"),
        ("V110", "10:18", 'missing required field "servicePort" in spec.rules[0].http.paths[2].backend'),
        ("V111", "11:36", 'unknown field "servicName" in spec.rules[0].http.paths[3].backend '
                          '(did you mean "serviceName"?)'),
        ("V110", "12:9", 'missing required field "backend" in spec.rules[0].http.paths[4]'),
    ], id="ingress-v1beta1-backends"),
    pytest.param("""
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg}
        data:
          "bad key": x
          enable-brotli: yes
          ok: "1"
        """, [
        ("V110", "5:3", 'invalid key "bad key" in data: keys may contain only letters, digits, "-", "_" and "."'),
        ("V110", "6:18", 'data.enable-brotli: expected string, got boolean true '
                         "(put the value in quotes to make it a string)"),
    ], id="configmap-keys-and-values"),
    pytest.param("""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: s}
        addressType: ipv4
        endpoints:
        - addresses: []
          conditions: {ready: "yes", serving: true}
        - {addresses: [10.0.0.1], hints: {forZones: [{}]}}
        ports: [{port: 0}]
        """, [
        ("V110", "4:14", 'addressType: "ipv4" is not one of IPv4, IPv6, FQDN'),
        ("V110", "6:14", "endpoints[0].addresses: must have at least 1 item"),
        ("V110", "7:23", 'endpoints[0].conditions.ready: expected boolean, got string "yes"'),
        ("V110", "8:46", 'missing required field "name" in endpoints[1].hints.forZones[0]'),
        ("V110", "9:16", "ports[0].port: must be between 1 and 65535, got 0"),
    ], id="endpointslice"),
    pytest.param("""
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web}
        subsets:
        - addresses: [{hostname: a}]
          ports: [{name: http}]
        """, [
        ("V110", "5:15", 'missing required field "ip" in subsets[0].addresses[0]'),
        ("V110", "6:11", 'missing required field "port" in subsets[0].ports[0]'),
    ], id="endpoints"),
    pytest.param("""
        apiVersion: networking.k8s.io/v1
        kind: IngressClass
        metadata: {name: nginx}
        spec:
          controler: k8s.io/ingress-nginx
          parameters: {name: p, scope: cluster}
        """, [
        ("V111", "5:3", 'unknown field "controler" in spec (did you mean "controller"?)'),
        ("V110", "6:15", 'missing required field "kind" in spec.parameters'),
        ("V110", "6:32", 'spec.parameters.scope: "cluster" is not one of Cluster, Namespace'),
    ], id="ingressclass"),
    pytest.param("""
        kind: Service
        metadata: {name: a}
        ---
        apiVersion: v1
        kind: 5
        metadata: {name: b}
        ---
        apiVersion: ""
        kind: Service
        metadata: {name: c}
        """, [
        ("V101", "1:1", 'missing required field "apiVersion"'),
        ("V101", "5:7", "kind: expected string, got integer 5"),
        ("V101", "8:13", "apiVersion: must not be empty"),
    ], id="V101-identity"),
    pytest.param("""
        apiVersion: networking.k8s.io/v2
        kind: Ingress
        metadata: {name: a}
        ---
        apiVersion: v1
        kind: IngressClass
        metadata: {name: b}
        """, [
        ("V102", "1:13", 'apiVersion "networking.k8s.io/v2" is not supported for Ingress; use one of '
                         "networking.k8s.io/v1, networking.k8s.io/v1beta1, extensions/v1beta1"),
        ("V102", "5:13", 'apiVersion "v1" is not supported for IngressClass; use one of '
                         "networking.k8s.io/v1, networking.k8s.io/v1beta1"),
    ], id="V102-unsupported-version"),
]


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_invalid(text: str, expected: list[tuple[str, str, str]]) -> None:
    result, diags, docs = run(text)
    assert found(diags) == sorted(expected, key=lambda e: (int(e[1].split(":")[0]), int(e[1].split(":")[1]),
                                                           e[0], e[2]))
    assert all(d.severity == Severity.ERROR for d in diags)
    assert result.valid == []
    assert result.invalid == len(docs)


def test_messages_name_the_object() -> None:
    _, diags, _ = run(BACKEND_TYPO)
    (d,) = diags.items
    assert str(d.obj) == "Ingress web"
    assert d.format() == ('t.yaml:12:11: error[V111]: unknown field "servicName" in '
                          'spec.rules[0].http.paths[0].backend (did you mean "service"?) (Ingress web)')


def test_list_items_are_located_inside_the_list() -> None:
    text = _as_list_items(KUBECTL_SERVICE.replace("port: 80\n", "port: eighty\n"), KUBECTL_INGRESS)
    result, diags, docs = run(text)
    assert len(docs) == 2 and result.valid == [docs[1]]
    line = y(text).splitlines().index("      port: eighty") + 1
    assert found(diags) == [("V110", f"{line}:13", 'spec.ports[0].port: expected integer, got string "eighty"')]


def test_kind_differing_only_in_case_is_skipped_with_a_warning() -> None:
    result, diags, _ = run("""
        apiVersion: networking.k8s.io/v1
        kind: ingress
        metadata: {name: a}
        """)
    assert result.skipped == {"ingress": 1} and result.invalid == 0
    (d,) = diags.items
    assert (d.code, d.severity) == ("V001", Severity.WARNING)
    assert d.message == ('skipped: kind ingress is not read by ingc (did you mean "Ingress"? '
                         "kinds are case-sensitive)")


def test_map_keys_that_are_not_strings_are_located() -> None:
    _, diags, _ = run("""
        apiVersion: v1
        kind: Service
        metadata: {name: a}
        spec:
          selector: {1: 2}
          80: http
        """)
    assert found(diags) == [
        ("V110", "5:17", "spec.selector[1]: expected string, got integer 2 (put the value in quotes to make it a "
                         "string)"),
        ("V111", "6:3", "unknown field 80 in spec"),
    ]


# --------------------------------------------------------------------------- schemas and API


def test_supported() -> None:
    assert SUPPORTED == {
        "ConfigMap": ["v1"],
        "EndpointSlice": ["discovery.k8s.io/v1"],
        "Endpoints": ["v1"],
        "Ingress": ["networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1"],
        "IngressClass": ["networking.k8s.io/v1", "networking.k8s.io/v1beta1"],
        "Secret": ["v1"],
        "Service": ["v1"],
    }


def _all_pairs() -> list[tuple[str, str]]:
    return [(api, kind) for kind, apis in SUPPORTED.items() for api in apis]


def _objects(node: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            out.append(node)
        for v in node.values():
            out.extend(_objects(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_objects(v))
    return out


@pytest.mark.parametrize(("api_version", "kind"), _all_pairs())
def test_schema_files(api_version: str, kind: str) -> None:
    schema = schema_for(api_version, kind)
    assert schema is not None
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["properties"]["apiVersion"]["const"] == api_version
    assert schema["properties"]["kind"]["const"] == kind
    # Strict: every object with fixed fields refuses unknown ones, except the open status objects.
    top = {k: v for k, v in schema.items() if k != "definitions"}
    definitions = [v for k, v in schema["definitions"].items() if not k.endswith("Status")]
    for obj in _objects([top, *definitions]):
        if obj.get("properties") and obj.get("type") == "object":
            assert obj.get("additionalProperties") is False, obj
    assert schema_for(api_version, kind) is schema  # loaded once


def test_schema_for_unknown() -> None:
    assert schema_for("networking.k8s.io/v2", "Ingress") is None
    assert schema_for("apps/v1", "Deployment") is None


def test_generated_files_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("_generate", schemas_dir() / "_generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0
    on_disk = {p.name for p in schemas_dir().glob("*.json")}
    assert on_disk == set(gen.all_schemas())


@pytest.mark.parametrize(("api_version", "kind"), _all_pairs())
def test_every_bundled_schema_compiles(api_version: str, kind: str) -> None:
    entry = V._entry(api_version, kind)
    assert entry is not None
    assert entry.check != entry.validator.is_valid  # the fast path, not the fallback
    assert V._entry(api_version, kind) is entry


def test_unsupported_keywords_fall_back() -> None:
    with pytest.raises(V._Unsupported):
        compile_check({"oneOf": [{"type": "string"}]})
    with pytest.raises(V._Unsupported):
        compile_check({"$ref": "other.json#/x"})


# --------------------------------------------------------------------------- fast checker == jsonschema

SEED_TEXTS = [KUBECTL_SERVICE, KUBECTL_INGRESS, KUBECTL_ENDPOINTSLICE] + [
    p.values[0] for p in VALID if p.id not in ("kubectl-list",)
]


def _seeds() -> list[dict[str, Any]]:
    out = []
    for text in SEED_TEXTS:
        diags = Diagnostics()
        out.extend(d.data for d in parse_source(Source("seed.yaml", y(text)), diags, Limits()))
    return out


SEEDS = _seeds()


def _names(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties" and isinstance(v, dict):
                out.update(v)
            if k == "enum" and isinstance(v, list):
                out.update(e for e in v if isinstance(e, str))
            _names(v, out)
    elif isinstance(node, list):
        for v in node:
            _names(v, out)
    return out


NAMES = sorted(_names([schema_for(a, k) for a, k in _all_pairs()], set()))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 80, 65535, 65536, -1, 80.0, 1.5, float("nan"), float("inf")]),
    st.integers(),
    st.sampled_from(["", "/", "80", "http", "a b", "Exact", "prefix", "tls.crt", "servicName", *NAMES]),
    st.text(max_size=4),
)
SAME_TYPE: dict[type, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: st.sampled_from([0, 1, 80, 65535, 65536, -1]) | st.integers(),
    float: st.floats(),
    str: st.sampled_from(["", "a b", "Exact", "prefix", "http", *NAMES]) | st.text(max_size=4),
    list: st.lists(SCALARS, max_size=2),
    dict: st.dictionaries(st.sampled_from(NAMES), SCALARS, max_size=2),
}
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=3),
                                                                inner, max_size=3),
    max_leaves=6,
)


def _positions(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _positions(node[k], out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _positions(v, out)
    return out


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, (dict, list)):
        out.append(node)
        for v in node.values() if isinstance(node, dict) else node:
            _containers(v, out)
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "set", "delete", "add", "copy", "same-type", "same-type"]))
        if op in ("set", "delete", "same-type"):
            # apiVersion and kind stay: every document is also checked against every other schema.
            positions = [p for p in _positions(doc, []) if p[0] is not doc or p[1] not in ("apiVersion", "kind")]
            if not positions:
                continue
            container, key = draw(st.sampled_from(positions))
            if op == "delete":
                del container[key]
            elif op == "set":
                container[key] = draw(JSON)
            else:  # a value of the same type: boundaries of ranges, enums, lengths
                container[key] = draw(SAME_TYPE.get(type(container[key]), JSON))
        else:
            target = draw(st.sampled_from(_containers(doc, [])))
            value = draw(JSON) if op == "add" else copy.deepcopy(draw(st.sampled_from(_containers(doc, []))))
            if isinstance(target, dict):
                target[draw(st.sampled_from(NAMES) | st.text(max_size=3))] = value
            else:
                target.append(value)
    return doc


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_checker_agrees_with_jsonschema(doc: dict[str, Any]) -> None:
    verdicts = set()
    for api_version, kind in _all_pairs():
        entry = V._entry(api_version, kind)
        assert entry is not None
        expected = entry.validator.is_valid(doc)
        assert entry.check(doc) == expected, (api_version, kind)
        verdicts.add(expected)
    # And the pass itself: valid exactly when jsonschema says so, errors otherwise.
    diags = Diagnostics()
    result = validate_documents([Document(Source("h.yaml", ""), 0, doc)], diags)
    api, kind = doc.get("apiVersion"), doc.get("kind")
    entry = V._entry(api, kind) if isinstance(api, str) and isinstance(kind, str) else None
    if entry is not None:
        ok = entry.validator.is_valid(doc)
        assert (len(result.valid) == 1) == ok
        assert (result.invalid == 1) == (not ok)
        assert all(d.code in ("V110", "V111") for d in diags) and (len(diags) > 0) == (not ok)
        for d in diags:
            assert d.message and "{value}" not in d.message


@pytest.mark.parametrize("value", [
    None, True, False, 0, 1, 65535, 65536, -1, 80.0, 80.5, float("nan"), float("inf"), "", "x", "80", [], {},
    [1], {"a": 1},
])
def test_fast_checker_scalars_everywhere(value: Any) -> None:
    """Every position of every seed replaced by each edge value: both checkers agree."""
    for seed in SEEDS:
        api, kind = seed["apiVersion"], seed["kind"]
        entry = V._entry(api, kind)
        assert entry is not None
        doc = copy.deepcopy(seed)
        for container, key in _positions(doc, []):
            old = container[key]
            container[key] = value
            assert entry.check(doc) == entry.validator.is_valid(doc), (api, kind, key)
            container[key] = old
