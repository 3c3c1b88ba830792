"""Makes moto's TransactWriteItems cost what the transaction touches, not what the tables hold.

moto 5.2.5 rolls a failed transaction back by deep-copying every table the transaction names
before it starts, so each transaction costs time and memory in proportion to the tables' sizes:
a customer with thousands of events (or a table of thousands of customers) makes every later
event slower and slower, which is moto's cost, not DynamoDB's. This keeps moto's own transaction
code (conditions, validation, error reporting) and replaces only its rollback: an undo log of the
items the transaction names, restored if it fails. Transactions also run one at a time, as
DynamoDB isolates them (moto's server is threaded and would otherwise interleave them).

Applied by moto_server.py before the server starts.
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
