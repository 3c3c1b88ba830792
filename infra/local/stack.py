#!/usr/bin/env python3
"""Starts the whole system locally and drives a sample lifecycle through it.

  moto's server (free loopback port)    <- provisioned from template.yaml
  cargo lambda watch (Lambda emulator)  <- runs every function in template.yaml, env resolved from it
  gateway on --api-port (default 3000)  <- the template's HttpApi routes, as API Gateway v2 events
  SQS trigger pollers                   <- the template's SQS events, with partial batch failures
  schedule                              <- the template's Schedule events: a tick at each rate(...),
                                           and on demand: infra/local/tick.py --at <instant>

Then sends a signed sample lifecycle (infra/local/sample_lifecycle.py) through the gateway, lets the
processor consume the queue, prints the resulting ledger and a summary per affiliate, and ends with
the ops console's URL and a dev token. With --once it stops after the sample (exit status = the
sample's verdict); otherwise it keeps serving until Ctrl-C. The stack's addresses are written to
.local/stack.json.

The terminal shows the stack and the sample. The functions' JSON logs go to
.local/logs/functions.log, the gateway's and the SQS triggers' request lines to
.local/logs/gateway.log and .local/logs/triggers.log; --verbose streams them to the terminal too.
A request that fails (a function error, a 5xx, an invoke or poll error) is always shown.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import provision  # noqa: E402
import sample_lifecycle  # noqa: E402
from gateway import Gateway  # noqa: E402
from sqs_trigger import start_triggers  # noqa: E402
import tick  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"stack: process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"stack: nothing listening on port {port} after {seconds}s")


class LogSink:
    """One component's log: always written to .local/logs/<name>.log (fresh per run), echoed to the
    terminal with --verbose; lines that report a failure are echoed regardless."""

    FAILURE_MARKERS = ("function error", "invoke failed", "poll error", "failed the whole batch", "-> 5")

    def __init__(self, logs_dir, name, verbose):
        import threading
        self.path = logs_dir / f"{name}.log"
        self.file = open(self.path, "w", buffering=1, encoding="utf-8")
        self.verbose = verbose
        self.lock = threading.Lock()

    def __call__(self, line):
        line = line.rstrip("\n")
        with self.lock:
            self.file.write(line + "\n")
        if self.verbose or any(m in line for m in self.FAILURE_MARKERS):
            print(line, flush=True)

    def follow(self, stream):
        """Copies a child's output into this log, line by line, until it closes."""
        import threading

        def pump():
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.lock:
                    self.file.write(line + "\n")
                if self.verbose:
                    print(line, flush=True)

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        return t


def start_moto():
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "moto_server.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        raise SystemExit(f"stack: moto did not start ({line!r})")
    return proc, line.split(" ", 1)[1]


def function_env(description):
    """One environment for the emulator: the union of every function's resolved variables.
    cargo lambda watch gives all functions the same environment, so a variable that two functions
    set differently would be silently wrong for one of them; refuse instead."""
    env = {}
    for name, fn in description["functions"].items():
        for k, v in fn["environment"].items():
            if k in env and env[k] != v:
                raise SystemExit(f"stack: {k} differs between functions ({name}); give it distinct names")
            env[k] = v
    env.update({
        "AWS_ENDPOINT_URL": description["endpoint"],
        "AWS_REGION": description["region"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "RUST_LOG": os.environ.get("RUST_LOG", "info"),
    })
    # moto cannot take concurrent transactions (it deep-copies a table per transaction and
    # restores the copy when one fails, losing a concurrent one's writes): one at a time here.
    if "TICK_CONCURRENT_WRITES" in env:
        env["TICK_CONCURRENT_WRITES"] = "1"
    return env


def load_directory(api_url, path):
    """Loads plans, affiliates and coupon codes (docs/plans.md) the way ops do on a deployed stack:
    through the admin API, with a dev ops token (validated, versioned, audited)."""
    import dev_auth
    import urllib.error
    import urllib.parse
    import urllib.request
    data = json.loads(Path(path).read_text())
    unknown = set(data) - {"plans", "affiliates", "coupons"}
    if unknown:
        raise SystemExit(f"{path}: unknown sections {sorted(unknown)}")
    params = provision.LOCAL_PARAMETERS
    token = dev_auth.mint(params["AdminJwtIssuer"], params["AdminJwtAudience"], "ops", "local-directory-loader")
    reason = f"local stack: {Path(path).name}"

    def call(method, route, body):
        req = urllib.request.Request(
            f"{api_url}{route}", method=method, data=json.dumps(body).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=900) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            raise SystemExit(f"stack: loading {path}: {method} {route} -> {e.code} {e.read().decode()}")

    for plan in data.get("plans", []):
        call("POST", "/admin/plans", {"plan": plan, "reason": reason})
    for affiliate in data.get("affiliates", []):
        call("POST", "/admin/affiliates", {**affiliate, "reason": reason})
    for code, affiliate_id in data.get("coupons", {}).items():
        call("PUT", "/admin/coupons/" + urllib.parse.quote(code, safe=""), {"affiliate_id": affiliate_id, "reason": reason})
    return {k: len(v) for k, v in data.items()}


def print_console(api_url):
    """Where a person opens the ops console, and a token to sign in with."""
    import dev_auth
    params = provision.LOCAL_PARAMETERS
    token = dev_auth.mint(params["AdminJwtIssuer"], params["AdminJwtAudience"], "ops", "local-ops", minutes=12 * 60)
    print(f"\nops console: {api_url}/admin/console", flush=True)
    print("sign in with this dev token (ops, 12 hours; another: .venv/bin/python infra/local/dev_token.py):", flush=True)
    print(token, flush=True)


RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def start_schedule(description, log):
    """Ticks every scheduled function at its template rate, with the tick's time = now."""
    import threading
    from datetime import datetime, timezone
    for fn in description["functions"].values():
        for sched in fn.get("schedules", []):
            expr = sched["schedule"]
            if not (expr.startswith("rate(") and expr.endswith(")")):
                print(f"stack: schedule {expr} -> {fn['binary']} is not run locally "
                      f"(on demand: infra/local/tick.py --function {fn['binary']} [--at <instant>])", flush=True)
                continue
            value, unit = expr[5:-1].split()
            period = int(value) * RATE_UNITS[unit]

            def loop(period=period, binary=fn["binary"]):
                while True:
                    time.sleep(period)
                    try:
                        report = tick.fire(description, datetime.now(timezone.utc), binary).get(binary)
                        log(f"schedule: {binary} tick: {json.dumps(report)}")
                    except Exception as e:  # the local stack keeps running; the error is shown
                        print(f"schedule: {binary} tick failed: {e}", flush=True)
                        log(f"schedule: {binary} tick failed: {e}")

            threading.Thread(target=loop, daemon=True).start()
            print(f"stack: schedule {expr} -> {fn['binary']} (on demand: infra/local/tick.py --at <instant>)", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "3000")))
    ap.add_argument("--once", action="store_true", help="stop after the sample lifecycle")
    ap.add_argument("--no-sample", action="store_true", help="start the stack without sending the sample")
    ap.add_argument("--verbose", action="store_true",
                    help="stream the functions' logs and the gateway's and triggers' request lines to the terminal"
                         " (they always go to .local/logs/)")
    ap.add_argument("--browser-check", action="store_true",
                    help="after the sample, drive the ops console in headless Chromium (infra/local/console_check.py)")
    args = ap.parse_args(argv)

    state = ROOT / ".local"
    state.mkdir(exist_ok=True)
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    children = []

    def shutdown(*_):
        for p in reversed(children):
            if p.poll() is None:
                p.terminate()
        for p in children:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Explicitly, because a shell script that starts this in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        moto, endpoint = start_moto()
        children.append(moto)
        print(f"stack: moto server at {endpoint}", flush=True)

        provisioner = provision.Provisioner(
            provision.load_template(ROOT / "template.yaml"), endpoint, "us-east-1", "prop-local",
            provision.LOCAL_PARAMETERS,
        )
        description = provisioner.provision()
        env_file = state / "functions.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in function_env(description).items()))
        print(f"stack: provisioned {len(description['resources'])} resources from template.yaml", flush=True)

        lambda_port = free_port()
        emulator = subprocess.Popen(
            [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "--quiet",
             "-A", "127.0.0.1", "-P", str(lambda_port), "--env-file", str(env_file)],
            cwd=ROOT, env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        children.append(emulator)
        function_log = LogSink(logs, "functions", args.verbose)
        function_log.follow(emulator.stdout)
        wait_for_port(lambda_port, 120, emulator)
        print(f"stack: cargo lambda watch (Lambda emulator) on 127.0.0.1:{lambda_port};"
              f" function logs in {function_log.path.relative_to(ROOT)}", flush=True)

        gateway_log = LogSink(logs, "gateway", args.verbose)
        gateway = Gateway(description["functions"], f"http://127.0.0.1:{lambda_port}", args.api_port,
                          log=gateway_log)
        gateway.start()
        api_url = f"http://127.0.0.1:{gateway.port}"
        description["api_url"] = api_url
        description["lambda_url"] = f"http://127.0.0.1:{lambda_port}"
        (state / "stack.json").write_text(json.dumps(description, indent=2))
        groups = {}
        for _, path in gateway.routes:
            prefix = "/" + path.strip("/").split("/")[0]
            groups[prefix] = groups.get(prefix, 0) + 1
        print(f"stack: API at {api_url}: " + ", ".join(f"{n} routes under {p}" for p, n in sorted(groups.items()))
              + " (docs/openapi.yaml; each request: .local/logs/gateway.log)", flush=True)
        loaded = load_directory(api_url, provision.DIRECTORY)
        print(f"stack: directory loaded from infra/local/directory.json through the admin API: {loaded}", flush=True)

        trigger_log = LogSink(logs, "triggers", args.verbose)
        triggers = start_triggers(description, f"http://127.0.0.1:{lambda_port}", log=trigger_log)
        for t in triggers:
            print(f"stack: SQS trigger {t.trigger['queue_url'].rsplit('/', 1)[-1]} -> {t.function['binary']}"
                  f" (batch {t.trigger['batch_size']}, partial batch failures:"
                  f" {t.trigger['report_batch_item_failures']})", flush=True)

        start_schedule(description, LogSink(logs, "schedule", args.verbose))

        ok = True
        if not args.no_sample:
            ok = sample_lifecycle.run(api_url, description, triggers)
        if args.browser_check:
            import console_check
            print("console: headless Chromium against the ops console", flush=True)
            ok = console_check.run(api_url) and ok
        if not args.no_sample:
            ok = sample_lifecycle.print_summary(api_url, description) and ok
        print_console(api_url)
        if args.once:
            return 0 if ok else 1
        print("stack: up. Send signed webhooks to the API (see README). Ctrl-C stops everything.", flush=True)
        while all(p.poll() is None for p in children):
            time.sleep(1)
        print("stack: a component exited; stopping", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        shutdown()


if __name__ == "__main__":
    sys.exit(main())
