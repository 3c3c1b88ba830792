#!/usr/bin/env python3
"""Sends a signed sample lifecycle for three customers through the local API and shows what was
queued. Usable on its own against a running stack: `.venv/bin/python infra/local/sample_lifecycle.py` reads
.local/stack.json.

Checks, and says so, that: every lifecycle event is answered 202 and queued once, in order per
customer; a redelivery of the same webhook-id is answered 202 and not queued again; a tampered
signature gets 401 and an invalid body 400, and neither reaches the queue.
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
SECRETS = json.loads((HERE / "secrets.local.json").read_text())
KEY = base64.b64decode(SECRETS["signing_secrets"][0].removeprefix("whsec_"))


def sign(webhook_id, timestamp, body):
    mac = hmac.new(KEY, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def post(api, kind, webhook_id, payload, tamper=False):
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    signature = sign(webhook_id, ts, body)
    if tamper:
        body = body.replace(b'"amount": "', b'"amount": "1')
    req = urllib.request.Request(
        f"{api}/webhooks/{kind}", data=body, method="POST",
        headers={"content-type": "application/json", "webhook-id": webhook_id,
                 "webhook-timestamp": ts, "webhook-signature": signature},
    )
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def lifecycle(now):
    def at(hours_ago):
        return (now - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    today = now.strftime("%Y-%m-%d")
    return [
        # Alice: referred by a tracking link, passes and gets funded.
        ("purchase", "evt-alice-1", {"customer_id": "cust-alice", "occurred_at": at(72), "email": "alice@example.com",
                                     "transaction_id": "tx-alice-1", "challenge_id": "ch-alice-1", "tier": "100k",
                                     "account_size": "100000", "amount": "499.00", "currency": "USD",
                                     "affiliate_id": "aff-alpha", "click_id": "clk-9f2"}),
        ("evaluation", "evt-alice-2", {"customer_id": "cust-alice", "occurred_at": at(71), "challenge_id": "ch-alice-1",
                                       "status": "started", "account_size": "100000", "start_date": today}),
        ("evaluation", "evt-alice-3", {"customer_id": "cust-alice", "occurred_at": at(10), "challenge_id": "ch-alice-1",
                                       "status": "passed", "pass_date": today, "days_to_pass": 3}),
        ("funded", "evt-alice-4", {"customer_id": "cust-alice", "occurred_at": at(2), "account_id": "acc-alice-1",
                                   "challenge_id": "ch-alice-1", "account_size": "100000", "profit_split": "80"}),
        # Bob: came with a coupon, fails, buys a reset, then gets a partial refund.
        ("purchase", "evt-bob-1", {"customer_id": "cust-bob", "occurred_at": at(60), "transaction_id": "tx-bob-1",
                                   "challenge_id": "ch-bob-1", "tier": "50k", "account_size": "50000",
                                   "amount": "299.00", "currency": "USD", "coupon_code": "BETA10"}),
        ("evaluation", "evt-bob-2", {"customer_id": "cust-bob", "occurred_at": at(59), "challenge_id": "ch-bob-1",
                                     "status": "started", "account_size": "50000", "start_date": today}),
        ("evaluation", "evt-bob-3", {"customer_id": "cust-bob", "occurred_at": at(30), "challenge_id": "ch-bob-1",
                                     "status": "failed", "reason": "drawdown_limit", "days_active": 1}),
        ("reset", "evt-bob-4", {"customer_id": "cust-bob", "occurred_at": at(29), "transaction_id": "tx-bob-2",
                                "original_challenge_id": "ch-bob-1", "amount": "99.00", "currency": "USD"}),
        ("refund", "evt-bob-5", {"customer_id": "cust-bob", "occurred_at": at(5), "original_transaction_id": "tx-bob-2",
                                 "amount": "49.50", "currency": "USD", "reason": "goodwill"}),
        # Carol: referred by another affiliate, disputes the card payment.
        ("purchase", "evt-carol-1", {"customer_id": "cust-carol", "occurred_at": at(48), "transaction_id": "tx-carol-1",
                                     "challenge_id": "ch-carol-1", "tier": "200k", "account_size": "200000",
                                     "amount": "999.00", "currency": "EUR", "affiliate_id": "aff-beta"}),
        ("chargeback", "evt-carol-2", {"customer_id": "cust-carol", "occurred_at": at(1),
                                       "original_transaction_id": "tx-carol-1", "reason_code": "10.4",
                                       "amount": "999.00", "currency": "EUR", "dispute_status": "opened"}),
    ]


def drain(sqs, queue_url):
    """Receives and deletes every queued message, in delivery order. Reading a FIFO queue has to
    consume it: while a message group's head is in flight, SQS hands out nothing behind it, so
    messages cannot be peeked past a batch. Until the processor exists, this is the consumer."""
    out, empty = [], 0
    while empty < 2:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                  AttributeNames=["MessageGroupId"], WaitTimeSeconds=0)
        msgs = got.get("Messages", [])
        empty = empty + 1 if not msgs else 0
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return out


def run(api, description):
    now = datetime.now(timezone.utc)
    events = lifecycle(now)
    ok = True

    def check(cond, text):
        nonlocal ok
        ok &= bool(cond)
        print(f"  [{'ok' if cond else 'FAIL'}] {text}", flush=True)

    print(f"sample: sending {len(events)} signed lifecycle events for 3 customers to {api}", flush=True)
    for kind, wid, payload in events:
        status, body = post(api, kind, wid, payload)
        check(status == 202 and body.get("event_id") == wid, f"{kind:<10} {payload['customer_id']:<10} {wid:<12} -> {status}")

    status, _ = post(api, *events[0])
    check(status == 202, f"redelivery of {events[0][1]} -> {status} (idempotent, not queued again)")
    status, body = post(api, "purchase", "evt-tampered", events[0][2], tamper=True)
    check(status == 401, f"tampered body -> {status} {body.get('message', '')}")
    bad = dict(events[0][2], amount="-5", currency="usd")
    status, body = post(api, "purchase", "evt-invalid", bad)
    check(status == 400, f"invalid body -> {status}: " + "; ".join(f"{e['field']} {e['message']}" for e in body.get("errors", [])))

    queue_url = description["resources"]["EventQueue"]["ref"]
    sqs = boto3.client("sqs", endpoint_url=description["endpoint"], region_name=description["region"],
                       aws_access_key_id="local", aws_secret_access_key="local")
    messages = drain(sqs, queue_url)
    envelopes = [json.loads(m["Body"]) for m in messages]
    print(f"sample: {len(messages)} events read off the queue {queue_url.rsplit('/', 1)[-1]}:", flush=True)
    by_customer = {}
    for m, env in zip(messages, envelopes):
        by_customer.setdefault(m["Attributes"]["MessageGroupId"], []).append(env)
    for customer, envs in by_customer.items():
        print(f"  {customer:<11} " + " -> ".join(e["payload"]["kind"] for e in envs), flush=True)
    check(len(messages) == len(events), f"exactly {len(events)} queued (one per accepted event, none for rejects)")
    sent_order = {}
    for _, wid, p in events:
        sent_order.setdefault(p["customer_id"], []).append(wid)
    queued_order = {c: [e["event_id"] for e in envs] for c, envs in by_customer.items()}
    check(queued_order == sent_order, "per-customer order preserved (FIFO group = customer_id)")
    alice = next(e for e in envelopes if e["event_id"] == "evt-alice-1")
    check(len(alice.get("email_hash") or "") == 64 and not any("alice@" in m["Body"] for m in messages),
          "email kept only as a keyed hash")
    print(f"sample: {'all checks passed' if ok else 'SOME CHECKS FAILED'}", flush=True)
    return ok


if __name__ == "__main__":
    description = json.loads((HERE.parents[1] / ".local" / "stack.json").read_text())
    sys.exit(0 if run(description["api_url"], description) else 1)
