-- Athena (Glue) tables over the DynamoDB exports in the export bucket, in DYNAMODB_JSON: one
-- `{"Item": {...}}` per line, gzip. The item is read as a map from attribute name to its typed
-- value, so every attribute (including the stats table's per-currency counters, `revenue_USD`,
-- ...) is reachable and a new attribute never breaks the table.
--
-- One table per exported table; the partition `cut_off` is the export's cut-off as its prefix
-- names it (`ledger/2026-12-03T00-00-00Z/AWSDynamoDB/<export id>/...`, see docs/finance.md). It is
-- projected, not registered: `injected` means every query names the cut-off it reads
-- (`WHERE cut_off = '2026-12-03T00-00-00Z'`), and a new export needs no partition added. Athena
-- reads every object under the partition's folder: files starting with `_` (`_started`) are
-- skipped, and the two manifest files read as rows without an item (the views drop them).
-- template.yaml declares the same tables (FinanceLedgerExportTable, FinanceStatsExportTable);
-- a test keeps the two equal. Executed by the test suite on DuckDB after the translation in
-- infra/athena/duckdb_run.py.

CREATE EXTERNAL TABLE IF NOT EXISTS ledger_export (
  item map<string, struct<s:string, n:string>>
)
PARTITIONED BY (cut_off string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true')
LOCATION 's3://${ExportBucket}/ledger/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.cut_off.type' = 'injected',
  'storage.location.template' = 's3://${ExportBucket}/ledger/${cut_off}/'
);

CREATE EXTERNAL TABLE IF NOT EXISTS stats_export (
  item map<string, struct<s:string, n:string>>
)
PARTITIONED BY (cut_off string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true')
LOCATION 's3://${ExportBucket}/stats/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.cut_off.type' = 'injected',
  'storage.location.template' = 's3://${ExportBucket}/stats/${cut_off}/'
);
