"""Two mends to moto 5.2.5, applied by moto_server.py before the server starts.

`apply()`: makes moto's TransactWriteItems cost what the transaction touches, not what the
tables hold.

moto 5.2.5 rolls a failed transaction back by deep-copying every table the transaction names
before it starts, so each transaction costs time and memory in proportion to the tables' sizes:
a customer with thousands of events (or a table of thousands of customers) makes every later
event slower and slower, which is moto's cost, not DynamoDB's. This keeps moto's own transaction
code (conditions, validation, error reporting) and replaces only its rollback: an undo log of the
items the transaction names, restored if it fails. Transactions also run one at a time, as
DynamoDB isolates them (moto's server is threaded and would otherwise interleave them).

`apply_exports()`: ExportTableToPointInTime writes DynamoDB's documented export layout (see
there).
"""
import copy
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table

_LOCK = threading.RLock()
_real_deepcopy = copy.deepcopy


class _CopyModule:
    """moto's `copy` module as its DynamoDB backend sees it: tables are not copied (the undo log
    below restores items instead); everything else is copied as before."""

    def deepcopy(self, value, memo=None):
        if isinstance(value, Table):
            return value
        return _real_deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def _named_items(backend, transact_items):
    """(table, hash, range, item before the transaction) for every item the transaction names."""
    undo = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            key = op["Item"] if "Item" in op else op["Key"]
            hash_value, range_value = backend.get_keys_value(table, key)
            before = table.get_item(hash_value, range_value)
        except Exception:  # moto's own code reports the problem; nothing of it can be written
            continue
        undo.append((table, hash_value, range_value, _real_deepcopy(before)))
    return undo


def _restore(undo):
    for table, hash_value, range_value, before in reversed(undo):
        if range_value is not None:
            if before is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before
        elif before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before


def apply():
    original = dynamodb_models.DynamoDBBackend.transact_write_items
    dynamodb_models.copy = _CopyModule()

    def transact_write_items(self, transact_items):
        with _LOCK:
            undo = _named_items(self, transact_items)
            try:
                return original(self, transact_items)
            except BaseException:
                _restore(undo)
                raise

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


# ---------------------------------------------------------------------------------------------
# ExportTableToPointInTime. moto 5.2.5 writes one `data/<uuid>.gz` file and nothing else, names
# the export `.../table/<table arn>/import/...`, ignores ExportTime and ClientToken. This writes
# DynamoDB's documented layout instead, so the statements command reads a moto export exactly as
# it reads a real one:
#   <prefix>/AWSDynamoDB/<export id>/_started
#   <prefix>/AWSDynamoDB/<export id>/data/<name>.json.gz
#   <prefix>/AWSDynamoDB/<export id>/manifest-files.json    (itemCount, md5Checksum, etag, dataFileS3Key)
#   <prefix>/AWSDynamoDB/<export id>/manifest-summary.json  (exportTime, itemCount, outputFormat, ...)
# The export ARN is `<table arn>/export/<export id>` as DynamoDB names it; a repeated ClientToken
# for the same table returns the first export (DynamoDB's idempotency); ExportTime is recorded as
# the summary's exportTime. What stays different: moto keeps no history, so the items exported are
# the table's items when the call is made, not at ExportTime (callers here export "now" locally),
# and a token reused with different parameters is not refused.

def apply_exports():
    import base64
    import hashlib
    import json as _json
    import threading
    import time as _time
    from datetime import datetime, timezone
    from uuid import uuid4

    from moto.core.utils import gzip_compress
    from moto.dynamodb.exceptions import PointInTimeRecoveryUnavailable, TableNotFoundException
    from moto.dynamodb.models import table_export as te
    from moto.dynamodb.models.utilities import dynamo_json_dump
    import moto.dynamodb.responses as dynamodb_responses

    tokens = {}
    lock = threading.Lock()

    def stamp(when):
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def backup(self, s3_backend):
        base = f"{self.s3_prefix.rstrip('/')}/AWSDynamoDB/{self.export_id}" if self.s3_prefix \
            else f"AWSDynamoDB/{self.export_id}"
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=f"{base}/_started", value=b"")
        lines = []
        for item in self.table.all_items():
            lines.append(dynamo_json_dump(item.to_json(root_attr_name="Item")) + "\n")
            self.item_count += 1
        data = gzip_compress("".join(lines).encode("utf-8"))
        data_key = f"{base}/data/{uuid4().hex}.json.gz"
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=data_key, value=data)
        md5 = hashlib.md5(data)
        files = _json.dumps({"itemCount": self.item_count, "md5Checksum": base64.b64encode(md5.digest()).decode(),
                             "etag": md5.hexdigest(), "dataFileS3Key": data_key}) + "\n"
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=f"{base}/manifest-files.json", value=files.encode())
        summary = {
            "version": "2020-06-30", "exportArn": self.arn, "startTime": stamp(self.start_time),
            "endTime": stamp(datetime.now(timezone.utc)),
            "tableArn": self.table.table_arn, "tableId": self.table.table_arn.rsplit("/", 1)[-1],
            "exportTime": stamp(self.export_time), "s3Bucket": self.s3_bucket, "s3Prefix": self.s3_prefix or None,
            "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None,
            "manifestFilesS3Key": f"{base}/manifest-files.json", "billedSizeBytes": len(data),
            "itemCount": self.item_count, "outputFormat": "DYNAMODB_JSON",
        }
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=f"{base}/manifest-summary.json",
                              value=_json.dumps(summary).encode())
        self.processed_bytes = len(data)
        self.status = "COMPLETED"

    te.TableExport._backup_to_s3_file = backup

    original_response = te.TableExport.response

    def response(self):
        out = original_response(self)
        out["ExportTime"] = self.export_time.timestamp()
        out["StartTime"] = self.start_time.timestamp()
        out["ClientToken"] = self.client_token
        return out

    te.TableExport.response = response

    def export_table(self, s3_bucket, s3_prefix, table_arn, export_format, export_type, s3_bucket_owner,
                     export_time=None, client_token=None):
        table = next((t for t in self.tables.values() if t.table_arn == table_arn), None)
        if not table:
            raise TableNotFoundException(name=table_arn)
        pitr = table.continuous_backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        if pitr != "ENABLED":
            raise PointInTimeRecoveryUnavailable(name=table_arn.split("/")[-1])
        with lock:
            if client_token and (table_arn, client_token) in tokens:
                return tokens[(table_arn, client_token)]
            export = te.TableExport(s3_bucket=s3_bucket, s3_prefix=s3_prefix, region_name=self.region_name,
                                    account_id=s3_bucket_owner or self.account_id, table=table,
                                    export_format=export_format, export_type=export_type)
            now = datetime.now(timezone.utc)
            export.export_id = f"{int(_time.time() * 1000):013d}-{uuid4().hex[:8]}"
            export.arn = f"{table.table_arn}/export/{export.export_id}"
            export.start_time = now
            # moto's request parser has turned the epoch seconds into a datetime already
            if isinstance(export_time, (int, float)):
                export_time = datetime.fromtimestamp(export_time, timezone.utc)
            export.export_time = export_time.astimezone(timezone.utc) if export_time else now
            export.client_token = client_token
            self.table_exports[export.arn] = export
            if client_token:
                tokens[(table_arn, client_token)] = export
        export.start()
        return export

    dynamodb_models.DynamoDBBackend.export_table = export_table

    def export_table_to_point_in_time(self):
        body = self.body
        export = self.dynamodb_backend.export_table(
            s3_bucket=body["S3Bucket"], s3_prefix=body.get("S3Prefix", ""), table_arn=body["TableArn"],
            export_type=body.get("ExportType", "FULL_EXPORT"),
            export_format=body.get("ExportFormat", "DYNAMODB_JSON"),
            s3_bucket_owner=body.get("S3BucketOwner"), export_time=body.get("ExportTime"),
            client_token=body.get("ClientToken"))
        return dynamodb_responses.ActionResult({"ExportDescription": export.response()})

    dynamodb_responses.DynamoHandler.export_table_to_point_in_time = export_table_to_point_in_time
