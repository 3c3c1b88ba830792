#!/usr/bin/env python3
"""Fires a scheduled function on the running local stack at a chosen instant.

  .venv/bin/python infra/local/tick.py                          # the scheduler, now
  .venv/bin/python infra/local/tick.py --at 2026-12-01T00:00:00Z
  .venv/bin/python infra/local/tick.py --function exporter      # the finance export, cut-off now

The scheduler function receives the EventBridge "Scheduled Event" that the deployed schedule sends,
with `time` set to the instant given: the tick's "now" is that time, so any instant can be replayed
or tried ahead. Prints the tick's report (approvals, expired windows, review items opened).
"""
import argparse
import json
import sys
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def scheduled_event(at, description):
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": description["region"],
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/local-scheduler-tick"],
        "detail": {},
    }


def fire(description, at, binary="scheduler"):
    """Invokes the scheduled function `binary` once at `at`; returns {binary: report or error}.
    One at a time: the scheduler ticks ahead in the sample, and an export's cut-off must not be
    in the future (DynamoDB refuses it)."""
    out = {}
    scheduled = {fn["binary"] for fn in description["functions"].values() if fn.get("schedules")}
    if binary not in scheduled:
        raise SystemExit(f"tick: {binary!r} is not a scheduled function of the stack ({sorted(scheduled)})")
    for fn in description["functions"].values():
        if fn["binary"] != binary:
            continue
        req = urllib.request.Request(
            f"{description['lambda_url']}/2015-03-31/functions/{fn['binary']}/invocations",
            data=json.dumps(scheduled_event(at, description)).encode(), method="POST",
        )
        with urllib.request.urlopen(req, timeout=fn["timeout"] + 600) as resp:
            out[fn["binary"]] = json.loads(resp.read() or b"null")
    return out


def parse_instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--at", type=parse_instant, default=None, help="RFC 3339 instant (default: now)")
    ap.add_argument("--function", default="scheduler", help="the scheduled function's binary (default: scheduler)")
    args = ap.parse_args(argv)
    description = json.loads((ROOT / ".local" / "stack.json").read_text())
    at = args.at or datetime.now(timezone.utc)
    for binary, report in fire(description, at, args.function).items():
        print(f"{binary} at {at.isoformat()}: {json.dumps(report)}")
        if isinstance(report, dict) and "errorType" in report:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
