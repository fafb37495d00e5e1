#!/usr/bin/env python3
"""Side by side with Airbyte's CDK: one stream of the in-repo paged source, read by
`switchyard connectors read` and by airbyte-cdk's `source-declarative-manifest read`.

Run through `make bench-peers` (scripts/bench-peers.sh builds the binaries and the Airbyte
virtual environment first). Standard library only.

The fake paged source serves N records (default 200,000) on loopback, pages of 1,000, no latency
injected. Two pairs, each read RUNS times, the two readers alternating (and taking turns to go
first): a plain read, then a read with one mapping step (a jq mapping in Switchyard, an
`AddFields` transformation in the Airbyte manifest, both adding `full_name`). Each reader is a
child process; its user+sys CPU and peak RSS come from wait4(2), wall time from its start to its
exit (interpreter start-up included). Every run must produce every record, else the bench fails.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "tests/fixtures/connectors/fake-source.yaml"
MANIFEST = ROOT / "tests/fixtures/peers/airbyte-fake-source.yaml"
MANIFEST_MAPPED = ROOT / "tests/fixtures/peers/airbyte-fake-source-mapped.yaml"
# The jq twin of the mapped manifest's AddFields.
MAPPING = '. + {full_name: (.first_name + " " + .last_name)}'

CATALOG = {
    "streams": [
        {
            "stream": {
                "name": "records",
                "json_schema": {"type": "object"},
                "supported_sync_modes": ["full_refresh"],
            },
            "sync_mode": "full_refresh",
            "destination_sync_mode": "overwrite",
        }
    ]
}


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, {platform.machine()}, load average {load}"


def start_fake(fakes: Path, records: int) -> tuple[subprocess.Popen, str]:
    """The paged source on a free loopback port; returns the process and its base URL."""
    env = dict(os.environ, RUST_LOG="warn")  # no line per request
    proc = subprocess.Popen(
        [str(fakes), "--source-port", "0", "--source-records", str(records)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    line = proc.stdout.readline()  # "paged source  http://127.0.0.1:PORT/records"
    if not line.startswith("paged source"):
        proc.kill()
        sys.exit(f"bench-peers: the fake paged source did not start (printed {line!r})")
    url = line.split()[-1]
    return proc, url.removesuffix("/records")


def run(label: str, argv: list[str], record_marker: bytes | None, workdir: Path) -> dict:
    """Runs one reader, counting its records on stdout; returns its figures."""
    errors = workdir / f"{label}.stderr"
    with open(errors, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=workdir)
        count, rest, first = 0, b"", None
        while chunk := proc.stdout.read(1 << 16):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if record_marker is None or record_marker in line:
                    count += 1
                    if first is None:
                        first = line
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = errors.read_text(errors="replace")[-2000:]
        sys.exit(f"bench-peers: {label} exited with {proc.returncode}; the end of its stderr:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "records": count,
        "wall": wall,
        "cpu": cpu,
        "rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "first": first,
    }


def check(label: str, result: dict, records: int, mapped: bool) -> None:
    if result["records"] != records:
        sys.exit(f"bench-peers: {label} produced {result['records']} records, expected {records}")
    first = json.loads(result["first"])
    data = first.get("record", {}).get("data", first)  # Airbyte wraps the record in a message
    if mapped and data.get("full_name") != f"{data['first_name']} {data['last_name']}":
        sys.exit(f"bench-peers: {label} did not map its first record: {result['first'][:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    # scripts/bench-peers.sh passes the paths cargo reported (CARGO_TARGET_DIR is followed there).
    parser.add_argument("--profile", default="release", help="the cargo profile the binaries were built with")
    parser.add_argument("--switchyard", type=Path, default=ROOT / "target/release/switchyard")
    parser.add_argument("--fakes", type=Path, default=ROOT / "target/release/switchyard-fakes")
    parser.add_argument(
        "--airbyte", type=Path, default=ROOT / ".venv-peers/bin/source-declarative-manifest"
    )
    args = parser.parse_args()
    args.switchyard, args.fakes, args.airbyte = (p.absolute() for p in (args.switchyard, args.fakes, args.airbyte))
    for path in (args.switchyard, args.fakes, args.airbyte):
        if not path.exists():
            sys.exit(f"bench-peers: {path} is missing; run `make bench-peers`, which builds it")

    print(f"machine: {machine()}")
    print(f"Switchyard built with the {args.profile} profile: {args.switchyard}")
    print(f"{args.records:,} records from the fake paged source, pages of 1,000, {args.runs} runs each, medians")
    fake, base_url = start_fake(args.fakes, args.records)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
            workdir = Path(tmp)
            (workdir / "config.json").write_text(json.dumps({"base_url": base_url}))
            (workdir / "catalog.json").write_text(json.dumps(CATALOG))

            def airbyte(manifest: Path) -> list[str]:
                return [
                    str(args.airbyte), "read",
                    "--config", "config.json", "--catalog", "catalog.json",
                    "--manifest-path", str(manifest),
                ]

            def switchyard(mapped: bool) -> list[str]:
                argv = [
                    str(args.switchyard), "connectors", "read", str(DEFINITION),
                    "--stream", "records", "--base-url", base_url, "--allow-private-network",
                ]
                return argv + (["--mapping", MAPPING] if mapped else [])

            pairs = [
                ("read", airbyte(MANIFEST), switchyard(False), False),
                ("read + mapping", airbyte(MANIFEST_MAPPED), switchyard(True), True),
            ]
            rows = []
            for name, airbyte_argv, switchyard_argv, mapped in pairs:
                results = {"airbyte": [], "switchyard": []}
                for i in range(args.runs):
                    order = [("airbyte", airbyte_argv, b'"type":"RECORD"'), ("switchyard", switchyard_argv, None)]
                    if i % 2:
                        order.reverse()
                    for reader, argv, marker in order:
                        result = run(f"{reader}-{i}", argv, marker, workdir)
                        check(f"{reader} ({name}, run {i + 1})", result, args.records, mapped)
                        results[reader].append(result)
                        print(
                            f"  {name:<15} {reader:<10} run {i + 1}: {result['wall']:6.2f} s,"
                            f" {result['cpu']:6.2f} s CPU, {result['rss_mib']:6.1f} MiB",
                            flush=True,
                        )
                rows.append((name, results))
    finally:
        fake.terminate()
        fake.wait()

    print()
    print("| pass | reader | records/s | CPU per record | peak RSS |")
    print("|---|---|---|---|---|")
    for name, results in rows:
        medians = {}
        for reader in ("airbyte", "switchyard"):
            rs = results[reader]
            medians[reader] = {
                "rate": statistics.median(args.records / r["wall"] for r in rs),
                "cpu_us": statistics.median(r["cpu"] / args.records * 1e6 for r in rs),
                "rss": statistics.median(r["rss_mib"] for r in rs),
            }
        for reader, label in (("airbyte", "Airbyte CDK 7.39.1"), ("switchyard", "Switchyard")):
            m = medians[reader]
            print(f"| {name} | {label} | {m['rate']:,.0f} | {m['cpu_us']:.1f} us | {m['rss']:.1f} MiB |")
        a, s = medians["airbyte"], medians["switchyard"]
        print(
            f"| {name} | Airbyte / Switchyard | {a['rate'] / s['rate']:.3f}x |"
            f" {a['cpu_us'] / s['cpu_us']:.1f}x | {a['rss'] / s['rss']:.1f}x |"
        )


if __name__ == "__main__":
    main()
