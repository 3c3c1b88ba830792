-- Finance's views over the ledger and stats exports (Athena engine v3, Trino SQL). Definitions:
-- docs/finance.md. Every view carries the export's `cut_off` (the tables' partition): a query
-- names the export it reads, e.g. `SELECT * FROM payable_balance WHERE cut_off =
-- '2026-12-03T00-00-00Z'` (Athena requires it: the partition is injected). Amounts are DECIMAL(38,4): exact for every ISO 4217 currency (0 to 3
-- decimals); never DOUBLE. Periods go by when an entry was booked (recorded_at). Executed by the
-- test suite on DuckDB (infra/athena/duckdb_run.py) and compared with the statements command.

-- Every ledger item, typed.
CREATE OR REPLACE VIEW ledger_entries AS
SELECT
  element_at(item, 'affiliate_id').s AS affiliate_id,
  element_at(item, 'entry_id').s AS entry_id,
  element_at(item, 'commission_id').s AS commission_id,
  element_at(item, 'customer_id').s AS customer_id,
  element_at(item, 'event_id').s AS event_id,
  element_at(item, 'kind').s AS kind,
  element_at(item, 'status').s AS status,
  CAST(element_at(item, 'amount').n AS DECIMAL(38, 4)) AS amount,
  element_at(item, 'currency').s AS currency,
  from_iso8601_timestamp(element_at(item, 'effective_at').s) AS effective_at,
  from_iso8601_timestamp(element_at(item, 'recorded_at').s) AS recorded_at,
  COALESCE(CAST(element_at(item, 'record_version').n AS BIGINT), 0) AS record_version,
  element_at(item, 'reason').s AS reason,
  element_at(item, 'corrects').s AS corrects,
  element_at(item, 'statement_id').s AS statement_id,
  cut_off
FROM ledger_export
-- the export's manifests sit beside its data files and read as rows without an item
WHERE item IS NOT NULL;

-- Each entry with how much it moved the affiliate's payable balance: walking a commission's
-- entries in write order, (net after, if approved) - (net before, if approved); a payout, its
-- amount. The category is the statement's line for it.
CREATE OR REPLACE VIEW payable_effects AS
WITH walked AS (
  SELECT
    e.*,
    SUM(amount) OVER (
      PARTITION BY cut_off, affiliate_id, commission_id
      ORDER BY record_version, recorded_at, effective_at, entry_id
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS net_after,
    LAG(status) OVER (
      PARTITION BY cut_off, affiliate_id, commission_id
      ORDER BY record_version, recorded_at, effective_at, entry_id) AS status_before
  FROM ledger_entries e
)
SELECT
  cut_off, affiliate_id, entry_id, commission_id, customer_id, event_id, kind, status, amount, currency,
  effective_at, recorded_at, record_version, reason, corrects, statement_id,
  CASE kind WHEN 'approval' THEN 'approved' ELSE kind END AS category,
  CAST(CASE
    WHEN kind = 'payout' THEN amount
    ELSE (CASE WHEN status = 'approved' THEN net_after ELSE 0 END)
       - (CASE WHEN status_before = 'approved' THEN net_after - amount ELSE 0 END)
  END AS DECIMAL(38, 4)) AS payable_effect
FROM walked;

-- Payable balance per affiliate and currency at the export's cut-off. At an earlier moment:
--   SELECT affiliate_id, currency, SUM(payable_effect) FROM payable_effects
--   WHERE cut_off = '...' AND recorded_at <= TIMESTAMP '2026-11-30 23:59:59 UTC' GROUP BY 1, 2
CREATE OR REPLACE VIEW payable_balance AS
SELECT cut_off, affiliate_id, currency, CAST(SUM(payable_effect) AS DECIMAL(38, 4)) AS payable
FROM payable_effects
GROUP BY cut_off, affiliate_id, currency;

-- Per affiliate, currency and calendar month (UTC, by booking time): the statement's totals by
-- category, and the payable balance opening and closing the month.
CREATE OR REPLACE VIEW monthly_statement AS
WITH by_month AS (
  SELECT
    cut_off, affiliate_id, currency, date_trunc('month', recorded_at) AS month,
    CAST(SUM(CASE WHEN category = 'approved' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS approved,
    CAST(SUM(CASE WHEN category = 'adjustment' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS adjustments,
    CAST(SUM(CASE WHEN category = 'reversal' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS reversals,
    CAST(SUM(CASE WHEN category = 'cancellation' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS cancellations,
    CAST(SUM(CASE WHEN category = 'hold' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS holds,
    CAST(SUM(CASE WHEN category = 'release' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS releases,
    CAST(SUM(CASE WHEN category = 'payout' THEN payable_effect ELSE 0 END) AS DECIMAL(38, 4)) AS payouts,
    CAST(SUM(payable_effect) AS DECIMAL(38, 4)) AS change,
    COUNT(*) AS lines
  FROM payable_effects
  GROUP BY cut_off, affiliate_id, currency, date_trunc('month', recorded_at)
)
SELECT
  cut_off, affiliate_id, currency, month,
  CAST(COALESCE(SUM(change) OVER (
    PARTITION BY cut_off, affiliate_id, currency ORDER BY month
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS DECIMAL(38, 4)) AS opening,
  approved, adjustments, reversals, cancellations, holds, releases, payouts,
  CAST(SUM(change) OVER (
    PARTITION BY cut_off, affiliate_id, currency ORDER BY month
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS DECIMAL(38, 4)) AS closing,
  lines
FROM by_month;

-- Commissions that became payable (approval entries), by affiliate and month of approval.
CREATE OR REPLACE VIEW approved_commissions_by_month AS
SELECT
  cut_off, affiliate_id, currency, date_trunc('month', recorded_at) AS month,
  COUNT(*) AS commissions,
  CAST(SUM(payable_effect) AS DECIMAL(38, 4)) AS approved_amount
FROM payable_effects
WHERE kind = 'approval'
GROUP BY cut_off, affiliate_id, currency, date_trunc('month', recorded_at);

-- Reversals and adjustments with their reasons and what they corrected.
CREATE OR REPLACE VIEW corrections AS
SELECT
  cut_off, affiliate_id, currency, recorded_at, effective_at, entry_id, event_id, commission_id,
  customer_id, kind, amount, payable_effect, reason, corrects
FROM payable_effects
WHERE kind IN ('reversal', 'adjustment');

-- Commission cost against the revenue of the customers an affiliate referred, per affiliate,
-- month and currency (the stats table's counters `revenue_<CUR>` and `commission_<CUR>`). The
-- share is left to the reader: a DECIMAL division is DOUBLE on some engines.
CREATE OR REPLACE VIEW commission_cost_vs_revenue AS
WITH counters AS (
  SELECT
    cut_off,
    element_at(item, 'affiliate_id').s AS affiliate_id,
    element_at(item, 'month').s AS month,
    k AS counter,
    CAST(element_at(item, k).n AS DECIMAL(38, 4)) AS value
  FROM stats_export
  CROSS JOIN UNNEST(map_keys(item)) AS t (k)
  WHERE item IS NOT NULL AND (k LIKE 'revenue\_%' ESCAPE '\' OR k LIKE 'commission\_%' ESCAPE '\')
)
SELECT
  cut_off, affiliate_id, month, substr(counter, strpos(counter, '_') + 1) AS currency,
  CAST(SUM(CASE WHEN counter LIKE 'revenue\_%' ESCAPE '\' THEN value ELSE 0 END) AS DECIMAL(38, 4)) AS referred_revenue,
  CAST(SUM(CASE WHEN counter LIKE 'commission\_%' ESCAPE '\' THEN value ELSE 0 END) AS DECIMAL(38, 4)) AS commission_cost
FROM counters
GROUP BY cut_off, affiliate_id, month, substr(counter, strpos(counter, '_') + 1);
