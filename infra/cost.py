#!/usr/bin/env python3
"""Dollars per million lifecycle events, itemized, from counted requests.

Reads what `cargo bench -p system-tests --bench customer_history` measured (DynamoDB read and
write units per event by DynamoDB's documented rules, index writes, approvals per event, bytes
stored per event) and prices it, with the other per-event requests (API Gateway, Lambda, SQS FIFO),
at AWS's published on-demand prices (us-east-1; the table below, with its sources). See
docs/cost.md.

    infra/cost.py                                   # .local/bench/customer-history.json, else docs/cost/after.json
    infra/cost.py docs/cost/before-b1fd094.json docs/cost/after.json
    infra/cost.py --length 5000 --batch-size 10 --arch arm64 docs/cost/after.json
    infra/cost.py --json docs/cost/after.json       # the same, machine-readable

Money is exact: every figure is a decimal.Decimal, rounded once, for display, to the cent (or to
a tenth of a cent below a dollar).
"""
import argparse
import json
import sys
from decimal import ROUND_HALF_UP, Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Published on-demand prices, us-east-1, USD (checked 2026-12; each line names its page).
PRICES = {
    # https://aws.amazon.com/api-gateway/pricing/ — HTTP APIs, first 300 million a month
    "http_api_per_million_requests": D("1.00"),
    # https://aws.amazon.com/lambda/pricing/
    "lambda_per_million_requests": D("0.20"),
    "lambda_per_gb_second_x86_64": D("0.0000166667"),
    "lambda_per_gb_second_arm64": D("0.0000133334"),
    # https://aws.amazon.com/sqs/pricing/ — FIFO queues, per 64 KB request chunk
    "sqs_fifo_per_million_requests": D("0.50"),
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ — standard table class
    "dynamodb_per_million_write_units": D("0.625"),
    "dynamodb_per_million_read_units": D("0.125"),
    "dynamodb_storage_per_gb_month": D("0.25"),
    "dynamodb_pitr_per_gb_month": D("0.20"),
}
TARGET_PER_MILLION = D("4.50")
MILLION = D(1_000_000)
GB = D(1_000_000_000)


def template_memory_mb():
    """The functions' memory, from template.yaml's Globals (the template is the source)."""
    for line in (ROOT / "template.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("MemorySize:"):
            return D(stripped.split(":", 1)[1].strip())
    raise SystemExit("cost: template.yaml has no Globals MemorySize")


def pick_length(doc, wanted):
    lengths = [l for l in doc["lengths"] if not l.get("fails")]
    if not lengths:
        raise SystemExit("cost: the measurements hold no length that processed")
    if wanted is None:
        return lengths[-1]
    for l in lengths:
        if l["length"] == wanted:
            return l
    raise SystemExit(f"cost: no measurement at length {wanted} (have {[l['length'] for l in lengths]})")


def dec(x):
    return D(str(x))


def cost(doc, args):
    """Itemized dollars per million events for one measurement document."""
    at = pick_length(doc, args.length)
    mix = at["mix_average"]
    approval = at.get("approval", {}).get("per_approval") or doc.get("approval_per_approval")
    batch = D(args.batch_size)
    memory_gb = template_memory_mb() / D(1024)
    gb_second = PRICES[f"lambda_per_gb_second_{args.arch}"]
    lines = []

    def line(item, quantity, unit, price_per_unit, note):
        # Each line is exact to a hundred-millionth of a dollar, so the total is exactly their sum.
        dollars = (quantity * price_per_unit).quantize(D("0.00000001"), rounding=ROUND_HALF_UP)
        lines.append({"item": item, "quantity": quantity, "unit": unit, "dollars": dollars, "note": note})

    # One webhook request each: API Gateway, one Lambda invocation.
    line("API Gateway HTTP API", MILLION, "requests", PRICES["http_api_per_million_requests"] / MILLION,
         "one POST per event")
    line("Lambda webhook requests", MILLION, "invocations", PRICES["lambda_per_million_requests"] / MILLION,
         "one invocation per event")
    webhook_s = D(args.webhook_ms) / D(1000)
    line("Lambda webhook duration", MILLION * webhook_s * memory_gb, "GB-s", gb_second,
         f"{args.webhook_ms} ms billed at {template_memory_mb()} MB (verify + parse + seal is ~16 us; the rest is SendMessage)")
    # The processor: one invocation per batch; its time is DynamoDB round trips.
    line("Lambda processor requests", MILLION / batch, "invocations", PRICES["lambda_per_million_requests"] / MILLION,
         f"one per SQS batch of {args.batch_size}")
    batched = doc.get("replay_in_batches_of_10") if args.batched_reads else None
    if args.batched_reads and not batched:
        raise SystemExit("cost: --batched-reads needs the benchmark's replay_in_batches_of_10 figures")
    reads_per_event = dec(batched["read_requests"]) if batched else dec(mix["read_requests"])
    writes_per_event = dec(mix["write_requests"])
    processor_s = (reads_per_event * D(args.read_ms) + writes_per_event * D(args.transaction_ms)) / D(1000)
    line("Lambda processor duration", MILLION * processor_s * memory_gb, "GB-s", gb_second,
         f"{reads_per_event:.2f} reads x {args.read_ms} ms + {writes_per_event:.2f} transactions x {args.transaction_ms} ms per event")
    # SQS FIFO: SendMessage per event; ReceiveMessage and DeleteMessageBatch per batch.
    sqs_requests = MILLION * (D(1) + D(2) / batch)
    line("SQS FIFO requests", sqs_requests, "requests", PRICES["sqs_fifo_per_million_requests"] / MILLION,
         f"send per event; receive and delete per batch of {args.batch_size}")
    # DynamoDB: what the benchmark counted.
    wcu = dec(mix["wcu"])
    line("DynamoDB writes: tables", MILLION * wcu, "write units", PRICES["dynamodb_per_million_write_units"] / MILLION,
         f"{wcu:.2f} WCU per event over the mix (transactions double)")
    index = dec(mix["index_wcu"])
    line("DynamoDB writes: indexes", MILLION * index, "write units", PRICES["dynamodb_per_million_write_units"] / MILLION,
         f"{index:.2f} index write units per event")
    approvals = dec(doc.get("approvals_per_event", 0))
    if approval and approvals:
        approval_wcu = dec(approval["wcu"]) + dec(approval["index_wcu"])
        line("DynamoDB writes: approvals", MILLION * approvals * approval_wcu, "write units",
             PRICES["dynamodb_per_million_write_units"] / MILLION,
             f"{approvals:.2f} approvals per event x {approval_wcu:.2f} WCU (table + index) each, by the scheduler")
    rcu = dec(batched["rcu"]) if batched else dec(mix["rcu"])
    line("DynamoDB reads", MILLION * rcu, "read units", PRICES["dynamodb_per_million_read_units"] / MILLION,
         f"{rcu:.2f} strongly consistent RCU per event"
         + (" (measured in batches of 10)" if batched else " (one event per batch: the worst case)"))
    stored = dec(doc.get("stored_bytes_per_event", 0))
    if stored:
        gb = MILLION * stored / GB
        line("DynamoDB storage (per month kept)", gb, "GB-month", PRICES["dynamodb_storage_per_gb_month"],
             f"{stored} bytes per event, tables and indexes")
        line("DynamoDB PITR (per month kept)", gb, "GB-month", PRICES["dynamodb_pitr_per_gb_month"],
             "continuous backups of the same bytes")
    total = sum((l["dollars"] for l in lines), D(0))
    return at["length"], lines, total


def money(x):
    step = D("0.01") if x >= 1 else D("0.001")
    return f"${x.quantize(step, rounding=ROUND_HALF_UP)}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("measurements", nargs="*", help="benchmark output(s); default: the last run, else docs/cost/after.json")
    ap.add_argument("--length", type=int, help="which history length's figures (default: the longest measured)")
    ap.add_argument("--batch-size", type=int, default=5, help="events per SQS batch (1-10; default 5)")
    ap.add_argument("--batched-reads", action="store_true",
                    help="reads as measured in batches of 10 (default: one event per batch, the worst case)")
    ap.add_argument("--arch", choices=["x86_64", "arm64"], default="x86_64", help="Lambda architecture (template parameter)")
    ap.add_argument("--webhook-ms", type=int, default=10, help="billed webhook duration (default 10)")
    ap.add_argument("--read-ms", type=int, default=5, help="one BatchGetItem round trip (default 5)")
    ap.add_argument("--transaction-ms", type=int, default=12, help="one TransactWriteItems round trip (default 12)")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args(argv)
    if not 1 <= args.batch_size <= 10:
        ap.error("--batch-size must be 1 to 10 (SQS FIFO batches hold at most 10)")
    paths = [Path(p) for p in args.measurements]
    if not paths:
        last = ROOT / ".local/bench/customer-history.json"
        paths = [last if last.exists() else ROOT / "docs/cost/after.json"]
    out = []
    for path in paths:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"cost: cannot read {path}: {e}")
        length, lines, total = cost(doc, args)
        out.append({"measurements": str(path), "history_length": length, "lines": lines, "total": total})
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    for o in out:
        print(f"cost: {o['measurements']} at a history of {o['history_length']} events, per million events "
              f"(batch {args.batch_size}, {args.arch}):")
        for l in o["lines"]:
            print(f"  {l['item']:<36} {money(l['dollars']):>10}   {l['note']}")
        verdict = "under" if o["total"] <= TARGET_PER_MILLION else "OVER"
        print(f"  {'total':<36} {money(o['total']):>10}   target {money(TARGET_PER_MILLION)}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
