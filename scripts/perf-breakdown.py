#!/usr/bin/env python3
"""Where a function's CPU goes: `perf script` output grouped into named parts.

Each sample goes to the first part (in the order below) whose pattern matches any frame of its
stack, so a SHA-256 inside SigV4 signing counts as signing and a socket write inside the AWS
SDK's HTTP client counts as that client. Figures are shares of the samples; with the CPU per
invocation given, also microseconds per invocation.

    FOOTPRINT_CARGO_PROFILE=profiling FOOTPRINT_PERF=1 FOOTPRINT_SCENARIOS=webhook \\
        cargo bench -p switchyard-tests --bench footprint
    perf script -i target/footprint/<run>/webhook-receiver.perf.data \\
        | scripts/perf-breakdown.py receiver --per-invocation-ms 0.99
"""
import argparse
import collections
import re
import sys

PARTS = {
    "receiver": [
        ("verify + parse + envelope (receiver::prepare)", r"switchyard::receiver::prepare|switchyard::webhook::"),
        ("metrics (EMF lines)", r"switchyard::metrics"),
        ("logging (tracing: JSON lines, spans)", r"tracing_subscriber"),
        ("Lambda event deserialisation", r"ApiGatewayV2httpRequest.*[Dd]eserialize|deserialize.*ApiGatewayV2httpRequest|from_apigw"),
        ("response serialisation", r"ApiGatewayV2httpResponse.*[Ss]erialize|serialize.*ApiGatewayV2httpResponse|into_response"),
        ("AWS SDK: SigV4 signing", r"aws_sigv4|SigV4Signer"),
        ("AWS SDK: endpoint resolution", r"endpoint|Endpoint"),
        ("AWS SDK: request serialisation", r"ser_put_item|ser_send_message|serialize_structure|json_ser|ser_attribute_value"),
        ("AWS SDK: response parsing", r"de_put_item|de_send_message|deser|parse_http_response"),
        ("AWS SDK: HTTP (hyper, sockets)", r"aws_smithy_http_client|RustTlsConnector"),
        ("AWS SDK: orchestration (config layers, interceptors, user agent, retries)", r"aws_smithy_runtime|aws_sdk_|aws_runtime|aws_smithy"),
        ("Runtime API client (GET next, POST response)", r"lambda_runtime"),
        ("tokio (epoll waits, timers, wake-ups)", r"tokio::"),
    ],
    "sync": [
        ("jq mapping (sandbox thread: in, run, out)", r"jaq_|switchyard::connector::mapping|switchyard::sandbox"),
        ("DynamoDB: record links, checkpoints (AWS SDK)", r"aws_sdk_dynamodb|aws_smithy|aws_sigv4|aws_runtime"),
        ("reading source pages: HTTP + JSON parse", r"read_page|serde_json::de::from_|reqwest.*text|decode"),
        ("writing batches: body + HTTP", r"write_batch|batch_upsert|serde_json::ser|to_vec"),
        ("content hashing", r"content_hash|sha2"),
        ("logging", r"tracing_subscriber"),
        ("HTTP (reqwest, hyper)", r"reqwest|hyper"),
        ("engine (switchyard::sync, connector)", r"switchyard::"),
        ("tokio (epoll waits, timers, wake-ups)", r"tokio::"),
    ],
}


def samples(lines):
    stack = []
    for line in lines:
        if line[:1] in (" ", "\t") and line.strip():
            stack.append(line.strip())
            continue
        if stack:
            yield stack
        stack = []
    if stack:
        yield stack


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", choices=sorted(PARTS), help="which set of parts to group by")
    parser.add_argument("--per-invocation-ms", type=float, help="CPU per invocation (or per record, in us), to scale shares")
    args = parser.parse_args()
    rules = [(name, re.compile(pattern)) for name, pattern in PARTS[args.parts]]
    counts = collections.Counter()
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        text = "\n".join(stack)
        part = next((name for name, rx in rules if rx.search(text)), "other")
        counts[part] += 1
    if total == 0:
        sys.exit("no samples on stdin: pipe `perf script -i <perf.data>` into this script")
    print(f"{total} samples")
    for name, n in counts.most_common():
        share = n / total
        scaled = f"  {share * args.per_invocation_ms * 1000:7.0f} us" if args.per_invocation_ms else ""
        print(f"  {share * 100:5.1f}%{scaled}  {name}")


if __name__ == "__main__":
    main()
