-- Athena (Glue) tables over DynamoDB exports to S3 in DYNAMODB_JSON: one `{"Item": {...}}` per
-- line, gzip. The item is read as a map from attribute name to its typed value, so every
-- attribute (including the stats table's per-currency counters, `revenue_USD`, ...) is reachable
-- and a new attribute never breaks the table. Point LOCATION at one export's data/ folder:
--   s3://<ExportBucket>/ledger/<cut-off>/AWSDynamoDB/<export id>/data/
-- (the prefix names the table and the cut-off; see docs/finance.md). Executed by the test suite
-- on DuckDB after the translation in infra/athena/duckdb_run.py.

CREATE EXTERNAL TABLE IF NOT EXISTS ledger_export (
  item map<string, struct<s:string, n:string>>
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true')
LOCATION '${LedgerExportLocation}';

CREATE EXTERNAL TABLE IF NOT EXISTS stats_export (
  item map<string, struct<s:string, n:string>>
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true')
LOCATION '${StatsExportLocation}';
