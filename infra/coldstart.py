#!/usr/bin/env python3
"""Cold start of every function: the time from starting its release binary (as sam build builds
it) to its first request for an event from the Lambda Runtime API, i.e. everything its `main`
does once per container: config, telemetry, the real AWS SDK clients (and, for the webhooks and
the admin function, the secret fetched from Secrets Manager) against moto on loopback.

    .venv/bin/python infra/coldstart.py [--runs N] [--build-dir .aws-sam/build]

Each function runs N times (after one unmeasured start that warms the page cache); the median and
the slowest are printed next to the binary's size, with the targets (init <= 20 ms locally,
binary <= 8 MB = 8,000,000 bytes). It measures and reports; it does not fail on a time (the
machine's load moves it), only when a function cannot start.
"""
import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "local"))

import provision  # noqa: E402
from stack import function_env, start_moto  # noqa: E402

INIT_TARGET_MS = 20.0
SIZE_TARGET_BYTES = 8_000_000


class RuntimeApi:
    """The two Runtime API calls a starting function makes: `next` (it is ready) or `init/error`."""

    def __init__(self):
        self.ready = threading.Event()
        self.released = threading.Event()
        self.ready_at = None
        self.init_error = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.endswith("/runtime/invocation/next"):
                    api.ready_at = time.perf_counter()
                    api.ready.set()
                    # Hold the request (no event to give) until the process is stopped.
                    api.released.wait(10)
                self.send_response(500)
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace")
                if "/runtime/init/error" in self.path:
                    api.init_error = body
                    api.ready.set()
                self.send_response(202)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.released.set()
        self.server.shutdown()


def start_once(binary, env):
    """Milliseconds from exec to the first `next`; raises if the function reports an init error."""
    api = RuntimeApi()
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(binary)], env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        if not api.ready.wait(30):
            proc.kill()
            raise SystemExit(f"coldstart: {binary} never asked for an event: {proc.stderr.read()[-2000:]!r}")
        elapsed = (api.ready_at - started) * 1000 if api.ready_at else None
        proc.kill()
        proc.wait()
        if api.init_error is not None:
            raise SystemExit(f"coldstart: {binary} failed to initialize: {api.init_error}")
        return elapsed
    finally:
        api.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--build-dir", default=str(ROOT / ".aws-sam" / "build"),
                    help="where `sam build` put each function's bootstrap (default: .aws-sam/build)")
    args = ap.parse_args()
    build = Path(args.build_dir)

    moto, endpoint = start_moto()
    try:
        template = provision.load_template(ROOT / "template.yaml")
        description = provision.Provisioner(
            template, endpoint, "us-east-1", "prop-local", provision.LOCAL_PARAMETERS,
        ).provision()
        common = function_env(description)
        print(f"{'function':28} {'binary bytes':>13} {'init median':>12} {'slowest':>9}  (n={args.runs})")
        worst = 0.0
        largest = 0
        for name, fn in description["functions"].items():
            binary = build / name / "bootstrap"
            if not binary.exists():
                raise SystemExit(f"coldstart: {binary} is missing; run `sam build` first (./infra/test does)")
            env = {
                "PATH": os.environ.get("PATH", ""),
                **common,
                **fn["environment"],
                "AWS_LAMBDA_FUNCTION_NAME": fn["binary"],
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/prop-local/{fn['binary']}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
                "AWS_LAMBDA_LOG_FORMAT": "JSON",
                "AWS_LAMBDA_MAX_CONCURRENCY": "1",
                "LAMBDA_TASK_ROOT": str(binary.parent),
            }
            start_once(binary, env)  # unmeasured: the page cache
            times = [start_once(binary, env) for _ in range(args.runs)]
            median = statistics.median(times)
            size = binary.stat().st_size
            worst = max(worst, median)
            largest = max(largest, size)
            print(f"{name:28} {size:>13,} {median:>9.1f} ms {max(times):>6.1f} ms")
        print(f"largest median init {worst:.1f} ms (target <= {INIT_TARGET_MS:.0f} ms: "
              f"{'met' if worst <= INIT_TARGET_MS else 'NOT met'}); largest binary {largest:,} bytes "
              f"(target <= {SIZE_TARGET_BYTES:,}: {'met' if largest <= SIZE_TARGET_BYTES else 'NOT met'})")
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
