#!/usr/bin/env python3
"""Measures a function binary's cold init: process start to its first request for an event.

Serves a minimal Lambda Runtime API on 127.0.0.1 (only GET /runtime/invocation/next is
answered, by recording the time and then holding the connection), starts the binary with
AWS_LAMBDA_RUNTIME_API pointing at it, and prints the milliseconds from spawn to that first
request. The emulator (moto) must be running if the function talks to AWS during init.

    scripts/cold-init.py target/release/webhook-receiver [runs]

Environment for the function (TABLE_NAME, SYNC_QUEUE_URL, AWS_ENDPOINT_URL, ...) is passed
through from this process.
"""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

first_request = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            first_request.set()
            time.sleep(5)  # hold it: no event comes
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def measure(binary):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", os.path.basename(binary))
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    env.setdefault("AWS_LAMBDA_LOG_FORMAT", "JSON")
    first_request.clear()
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = first_request.wait(30)
    elapsed = (time.perf_counter() - start) * 1000
    proc.kill()
    err = proc.stderr.read().decode(errors="replace")
    server.shutdown()
    if not ok:
        sys.exit(f"{binary} never asked for an event within 30 s:\n{err}")
    return elapsed


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    times = [measure(binary) for _ in range(runs)]
    print(f"{os.path.basename(binary)}: cold init median {statistics.median(times):.1f} ms, "
          f"min {min(times):.1f} ms, max {max(times):.1f} ms over {runs} runs")


if __name__ == "__main__":
    main()
