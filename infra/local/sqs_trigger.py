"""A local stand-in for Lambda's SQS event source mapping, with its partial-batch semantics.

For every function whose template.yaml events include an SQS trigger, a poller receives up to
BatchSize messages, hands them to the function as the SQS event Lambda builds, and then, like
Lambda with ReportBatchItemFailures: deletes the messages that succeeded, leaves the reported
failures on the queue (visible again after a short local visibility timeout instead of the
deployed 180 s, so a demo does not stall), and on a function error leaves the whole batch. SQS's
redrive policy (maxReceiveCount) then moves messages that keep failing to the dead-letter queue.
"""
import json
import threading
import time
import urllib.error
import urllib.request

import boto3

# Deployed, failures reappear after the queue's visibility timeout; locally after this many seconds.
LOCAL_RETRY_VISIBILITY = 2


class SqsTrigger:
    def __init__(self, description, function, trigger, invoke_url, log=print):
        self.function = function
        self.trigger = trigger
        self.invoke_url = invoke_url.rstrip("/")
        self.log = log
        self.sqs = boto3.client(
            "sqs", endpoint_url=description["endpoint"], region_name=description["region"],
            aws_access_key_id="local", aws_secret_access_key="local",
        )
        self.region = description["region"]
        self.stop_flag = threading.Event()
        self.idle = threading.Event()
        self.invocations = 0
        self.failures = 0

    def event(self, messages):
        return {"Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {"stringValue": v.get("StringValue"), "stringListValues": [], "binaryListValues": [],
                        "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": self.trigger["queue_arn"],
                "awsRegion": self.region,
            }
            for m in messages
        ]}

    def invoke(self, event):
        req = urllib.request.Request(
            f"{self.invoke_url}/2015-03-31/functions/{self.function['binary']}/invocations",
            data=json.dumps(event).encode(), method="POST",
        )
        with urllib.request.urlopen(req, timeout=self.function["timeout"] + 600) as resp:
            return json.loads(resp.read() or b"null")

    def poll_once(self):
        url = self.trigger["queue_url"]
        got = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=self.trigger["batch_size"], VisibilityTimeout=60,
            AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=1,
        )
        messages = got.get("Messages", [])
        if not messages:
            return False
        self.invocations += 1
        try:
            result = self.invoke(self.event(messages))
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as e:
            result = {"errorType": f"invoke failed: {e}"}
        if isinstance(result, dict) and "errorType" in result:
            failed = {m["MessageId"] for m in messages}
            self.log(f"trigger: {self.function['binary']} failed the whole batch: {result.get('errorType')}")
        elif self.trigger["report_batch_item_failures"]:
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        else:
            failed = set()
        self.failures += len(failed)
        for m in messages:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                   VisibilityTimeout=LOCAL_RETRY_VISIBILITY)
            else:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.log(f"trigger: {self.function['binary']} <- {len(messages)} messages, {len(failed)} returned")
        return True

    def run(self):
        while not self.stop_flag.is_set():
            try:
                busy = self.poll_once()
            except Exception as e:  # keep polling; the stack is local and errors are printed
                self.log(f"trigger: poll error: {e}")
                busy = False
            if busy:
                self.idle.clear()
            else:
                self.idle.set()

    def start(self):
        threading.Thread(target=self.run, daemon=True).start()

    def stop(self):
        self.stop_flag.set()

    def wait_idle(self, seconds):
        """Waits until the queue has been seen empty after all work so far."""
        deadline = time.monotonic() + seconds
        self.idle.clear()
        while time.monotonic() < deadline:
            if self.idle.wait(timeout=0.5):
                attrs = self.sqs.get_queue_attributes(
                    QueueUrl=self.trigger["queue_url"],
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                if attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0":
                    return True
                self.idle.clear()
        return False


def start_triggers(description, invoke_url, log=print):
    triggers = []
    for fn in description["functions"].values():
        for t in fn.get("sqs_triggers", []):
            trig = SqsTrigger(description, fn, t, invoke_url, log)
            trig.start()
            triggers.append(trig)
    return triggers
