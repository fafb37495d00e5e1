#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/, not committed) from the
repo's fixtures: the signed sample deliveries in events/webhook-receiver/, the connector
definitions in shared/connectors/ and tests/fixtures/connectors/, their request templates, and
a few jq mappings. The input formats are described in shared/src/fuzzing/."""

import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

# The selector byte of each scheme (shared/src/fuzzing/delivery.rs).
SCHEMES = ["stripe", "standard-webhooks", "github", "slack", "shopify", "hubspot",
           "intuit", "xero", "calendly", "twilio", "generic"]


def write(target, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def delivery(selector, headers, body):
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    return bytes([selector]) + head.encode() + b"\n" + body


def webhook_seeds():
    events = ROOT / "events" / "webhook-receiver"
    connections = json.loads((events / "connections.json").read_text())["connections"]
    by_id = {c["connection_id"]: c for c in connections}
    count = 0
    for path in sorted(events.glob("*.json")):
        if path.name == "connections.json":
            continue
        event = json.loads(path.read_text())
        connection = by_id.get(event.get("pathParameters", {}).get("connection_id"))
        if connection is None:
            continue
        selector = SCHEMES.index(connection["scheme"])
        secret = (events / connection["webhook_secret_file"]).read_text().strip()
        context = event.get("requestContext", {})
        url = "https://" + event["headers"].get("host", "hooks.example.com") + event.get("rawPath", "/")
        if event.get("rawQueryString"):
            url += "?" + event["rawQueryString"]
        pseudo = [
            (":secret", secret),
            (":now", str(context.get("timeEpoch", 1_700_000_000_000) // 1000)),
            (":tolerance", str(connection.get("tolerance_secs", 300))),
            (":url", url),
            (":method", context.get("http", {}).get("method", "POST")),
        ]
        body = event["body"].encode()
        headers = list(event["headers"].items())
        for target in ("webhook_verify", "webhook_extract"):
            write(target, delivery(selector, headers + pseudo, body))
        # The same body signed by webhook::sign, then verified.
        write("webhook_verify", delivery(selector | 0x80, pseudo, body))
        count += 1
    generic = [
        {"header": "X-Signature"},
        {"header": "X-Signature", "algorithm": "sha1", "encoding": "base64", "prefix": "sha1="},
        {"header": "X-Signature", "prefix": "sha256=", "template": "{timestamp}.{method}.{url}.{body}",
         "timestamp_header": "X-Timestamp", "event_id_header": "X-Event-Id",
         "event_type_pointer": "/type"},
        {"header": "X-Sig", "algorithm": "sha512", "event_id_pointer": "/id", "event_type_pointer": "/type"},
    ]
    for config in generic:
        pseudo = [(":generic", json.dumps(config)), (":secret", "generic-secret")]
        body = b'{"id":"evt_1","type":"order.created"}'
        write("webhook_verify", delivery(10 | 0x80, pseudo, body))
        write("webhook_verify", delivery(10, [("X-Signature", "sha256=00ff"), ("X-Timestamp", "1700000000")] + pseudo, body))
        write("webhook_extract", delivery(10, [("X-Event-Id", "e1"), ("Content-Type", "application/json")] + pseudo, body))
    for versions in ("v1", "v2", "v3", "v1,v2,v3"):
        write("webhook_verify", delivery(5 | 0x80, [(":hubspot", versions), (":secret", "hubspot-secret")], b"[]"))
    # PayPal (selector 19): header parsing and the cert URL rules; no certificate is fetched.
    body = b'{"id":"WH-1","event_type":"INVOICING.INVOICE.PAID","resource":{"invoice":{"id":"INV2-1"}}}'
    for url in ("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
                "https://user@api.paypal.com:8443/v1/notifications/certs/CERT-1?x=1",
                "http://127.0.0.1/v1/notifications/certs/CERT-1"):
        headers = [("PAYPAL-TRANSMISSION-ID", "b2384410-f8d2-11e4-8bf3-77339302725b"),
                   ("PAYPAL-TRANSMISSION-TIME", "2023-11-14T22:13:20Z"),
                   ("PAYPAL-TRANSMISSION-SIG", "A" * 342 + "=="),
                   ("PAYPAL-CERT-URL", url), ("PAYPAL-AUTH-ALGO", "SHA256withRSA")]
        for target in ("webhook_verify", "webhook_extract"):
            write(target, delivery(19, headers, body))
    return count


def connector_seeds():
    definitions = sorted((ROOT / "shared" / "connectors").glob("*.yaml"))
    definitions += sorted((ROOT / "tests" / "fixtures" / "connectors").glob("*.yaml"))
    for path in definitions:
        write("connector_definition", path.read_bytes())
    values = json.dumps({
        "config": {"account_id": "acct_1", "base_url": "https://api.example.com", "region": "eu"},
        "record": {"id": "cus_1", "email": "a@example.com", "properties": {"email": "a@example.com"}},
        "page": {"token": "next_2"},
        "since": 1700000000,
    })
    requests = 0
    try:
        import yaml  # PyYAML: optional, only for the request template seeds.
    except ImportError:
        yaml = None
    if yaml is not None:
        for path in definitions:
            def walk(node):
                nonlocal requests
                if isinstance(node, dict):
                    if "path" in node and isinstance(node.get("path"), str):
                        write("request_template", (values + "\n" + json.dumps(node)).encode())
                        requests += 1
                    for value in node.values():
                        walk(value)
                elif isinstance(node, list):
                    for value in node:
                        walk(value)
            try:
                walk(yaml.safe_load(path.read_text()))
            except yaml.YAMLError:
                pass
    for text in ("path: /customers/{{ record.id }}\nmethod: DELETE",
                 "path: /{{ config.account_id }}/items\nquery:\n  after: '{{ page.token }}'",
                 "path: /contacts\nmethod: POST\nbody:\n  inputs: '{{ record }}'\n  since: '{{ since | string }}'",
                 "path: /forms\nmethod: POST\nbody_format: form\nbody: {email: '{{ record.email }}', meta: {a: '{{ config.region }}'}}"):
        write("request_template", (values + "\n" + text).encode())
    return len(definitions), requests


MAPPINGS = [
    "{properties: {email: .email, firstname: .name, stripe_customer_id: .id}}",
    '. + {full_name: (.first_name + " " + .last_name)}',
    "select(.keep)",
    "[.i, .f, .big, nan]",
    ".items[] | select(.active)",
    "{id: .id, tags: [.tags[]? | ascii_upcase], created: (.created | todate)}",
    "reduce .tags[] as $t ({}; .[$t] = true)",
    'if .email then {email: .email | ascii_downcase} else error("no email") end',
    "def f: if . > 0 then . - 1 | f else . end; 10 | f",
    "[limit(3; repeat(.))]",
]


def mapping_seeds():
    sample = b'\x00{"id":"cus_1","email":"A@Example.com","name":"Ann","created":1700000000,"tags":["a","b"],"keep":true}'
    for program in MAPPINGS:
        write("mapping_compile", program.encode())
        write("mapping_compile", program.encode() + sample)
    return len(MAPPINGS)


def main():
    deliveries = webhook_seeds()
    definitions, requests = connector_seeds()
    mappings = mapping_seeds()
    print(f"seeds: {deliveries} sample deliveries, {definitions} definitions, "
          f"{requests} request templates from them, {mappings} mappings -> {CORPUS.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
