//! A statement as files: a CSV of every line (each traceable to its ledger entry and the event
//! that caused it) and a readable HTML page (no script, no external resource).

use std::fmt::Write as _;
use std::io::Write;

use rust_decimal::Decimal;

use super::statement::{AffiliateStatement, Category, CurrencyStatement};
use crate::money;

pub const CSV_HEADER: [&str; 17] = [
    "statement_id",
    "affiliate_id",
    "currency",
    "recorded_at",
    "effective_at",
    "entry_id",
    "event_id",
    "commission_id",
    "customer_id",
    "kind",
    "category",
    "status_after",
    "amount",
    "payable_effect",
    "reason",
    "corrects",
    "paid_statement_id",
];

/// The statement's id: the affiliate and the cut-off (what a payout of it is keyed on).
pub fn statement_id(s: &AffiliateStatement) -> String {
    format!(
        "{}@{}",
        s.affiliate_id,
        s.period.to.format("%Y%m%dT%H%M%SZ")
    )
}

fn shown(d: Decimal, c: &CurrencyStatement) -> String {
    money::with_minor_units(d, c.currency).to_string()
}

pub fn write_csv<W: Write>(s: &AffiliateStatement, out: W) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    let id = statement_id(s);
    for c in &s.currencies {
        for l in &c.lines {
            let e = &l.entry;
            w.write_record([
                id.as_str(),
                &s.affiliate_id,
                c.currency.code(),
                &e.recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                &e.effective_at
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                &e.entry_id,
                e.event_id.as_deref().unwrap_or(""),
                &e.commission_id,
                e.customer_id.as_deref().unwrap_or(""),
                e.kind.as_str(),
                l.category.as_str(),
                l.status_after.map_or("", |s| s.as_str()),
                &shown(e.amount, c),
                &shown(l.payable_effect, c),
                &e.reason,
                e.corrects.as_deref().unwrap_or(""),
                e.statement_id.as_deref().unwrap_or(""),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

const SUMMARY_ROWS: [(Category, &str); 8] = [
    (Category::Approved, "New approved commissions"),
    (Category::Adjustment, "Adjustments"),
    (Category::Reversal, "Reversals"),
    (Category::Hold, "Held (dispute or review)"),
    (Category::Release, "Released"),
    (Category::Cancellation, "Cancellations"),
    (
        Category::Commission,
        "New commissions (pending, not yet payable)",
    ),
    (Category::Payout, "Payouts"),
];

pub fn html(s: &AffiliateStatement) -> String {
    let id = statement_id(s);
    let from = s
        .period
        .from
        .map_or_else(|| "the beginning".to_owned(), |f| f.to_rfc3339());
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Statement {id}</title><style>\
body{{font:15px/1.45 system-ui,sans-serif;color:#111;margin:2rem auto;max-width:60rem;padding:0 1rem}}\
table{{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}}th,td{{padding:.3rem .5rem;border-bottom:1px solid #ccc;text-align:left}}\
td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums}}tr.total td{{font-weight:700;border-top:2px solid #111}}\
.muted{{color:#444}}@media print{{body{{margin:0}}}}</style></head><body>\n\
<h1>Commission statement</h1>\n<p><strong>Affiliate:</strong> {aff}<br><strong>Statement:</strong> {id}<br>\
<strong>Period:</strong> entries booked after {from} up to and including {to}</p>\n",
        id = esc(&id),
        aff = esc(&s.affiliate_id),
        from = esc(&from),
        to = esc(&s.period.to.to_rfc3339()),
    );
    if s.currencies.is_empty() {
        h.push_str("<p>No balance and no activity in this period.</p>\n");
    }
    for c in &s.currencies {
        let code = c.currency.code();
        let _ = write!(
            h,
            "<h2>{code}</h2>\n<table><caption class=\"muted\">Payable balance, {code}</caption>\
<tr><td>Opening payable balance</td><td class=\"n\">{}</td></tr>\n",
            shown(c.opening, c)
        );
        for (cat, label) in SUMMARY_ROWS {
            let _ = writeln!(
                h,
                "<tr><td>{label}</td><td class=\"n\">{}</td></tr>",
                shown(c.totals.get(&cat).copied().unwrap_or_default(), c)
            );
        }
        let _ = write!(
            h,
            "<tr class=\"total\"><td>Closing payable balance</td><td class=\"n\">{}</td></tr></table>\n\
<table><caption class=\"muted\">Every line booked in the period ({n})</caption><tr><th>Booked</th><th>Entry</th>\
<th>Event</th><th>Customer</th><th>Kind</th><th>Status after</th><th class=\"n\">Amount</th><th class=\"n\">Payable effect</th><th>Reason</th></tr>\n",
            shown(c.closing, c),
            n = c.lines.len()
        );
        for l in &c.lines {
            let e = &l.entry;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                esc(&e.entry_id),
                esc(e.event_id.as_deref().unwrap_or("—")),
                esc(e.customer_id.as_deref().unwrap_or("—")),
                esc(e.kind.as_str()),
                esc(l.status_after.map_or("paid", |s| s.as_str())),
                shown(e.amount, c),
                shown(l.payable_effect, c),
                esc(&e.reason),
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<p class=\"muted\">Payable: approved commissions net of their adjustments and reversals; pending, \
held and cancelled ones are not payable; payouts are deducted. A negative balance is owed back and \
carried forward. Each line's entry id is its ledger entry; its event id the lifecycle event that caused it.</p>\n\
</body></html>\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_it_shows() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
