//! The statements command's bucket files: a checked entry written compactly (one tab-separated
//! line) so the second pass reads it back without parsing JSON, dates or words again.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::booked::{BookedEntry, BookedKind};
use crate::ledger::{CommissionStatus, EntryKind};
use crate::money::Currency;

fn push_text(out: &mut String, text: &str) {
    if text.contains(['\\', '\t', '\n']) {
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(text);
    }
    out.push('\t');
}

fn push_optional(out: &mut String, text: Option<&str>) {
    match text {
        None => out.push_str("-\t"),
        Some(t) => {
            out.push('+');
            push_text(out, t);
        }
    }
}

fn push_instant(out: &mut String, t: DateTime<Utc>) {
    let _ = write!(out, "{}.{}\t", t.timestamp(), t.timestamp_subsec_nanos());
}

/// Appends the entry as one line (ending in a newline) to `out`.
pub fn encode(e: &BookedEntry, out: &mut String) {
    push_text(out, &e.affiliate_id);
    push_text(out, &e.entry_id);
    push_text(out, &e.commission_id);
    push_optional(out, e.customer_id.as_deref());
    let kind = match e.kind {
        BookedKind::Payout => 0,
        BookedKind::Entry(k) => 1 + EntryKind::ALL.iter().position(|x| *x == k).unwrap_or(0),
    };
    let status = e.status.map_or(0, |s| {
        1 + CommissionStatus::ALL
            .iter()
            .position(|x| *x == s)
            .unwrap_or(0)
    });
    let _ = write!(out, "{kind}\t{status}\t{}\t", e.amount);
    push_text(out, e.currency.code());
    push_optional(out, e.event_id.as_deref());
    push_instant(out, e.effective_at);
    push_instant(out, e.recorded_at);
    let _ = write!(out, "{}\t", e.record_version);
    push_text(out, &e.reason);
    push_optional(out, e.corrects.as_deref());
    push_optional(out, e.statement_id.as_deref());
    out.pop();
    out.push('\n');
}

fn text(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn optional(field: &str) -> Result<Option<String>, String> {
    match field.split_at_checked(1) {
        Some(("-", "")) => Ok(None),
        Some(("+", rest)) => Ok(Some(text(rest))),
        _ => Err(format!("bad optional field {field:?}")),
    }
}

fn instant(field: &str) -> Result<DateTime<Utc>, String> {
    let (secs, nanos) = field.split_once('.').ok_or("bad instant")?;
    let secs: i64 = secs.parse().map_err(|_| "bad instant seconds")?;
    let nanos: u32 = nanos.parse().map_err(|_| "bad instant nanoseconds")?;
    DateTime::from_timestamp(secs, nanos).ok_or_else(|| "instant out of range".into())
}

/// Reads back a line `encode` wrote (without its newline).
pub fn decode(line: &str) -> Result<BookedEntry, String> {
    // Fifteen fields, split without allocating (this runs once per entry).
    let mut f = [""; 15];
    let mut count = 0;
    for field in line.split('\t') {
        if count < f.len() {
            f[count] = field;
        }
        count += 1;
    }
    if count != f.len() {
        return Err(format!("{count} fields, not 15"));
    }
    let kind = match f[4].parse::<usize>().map_err(|_| "bad kind")? {
        0 => BookedKind::Payout,
        n => BookedKind::Entry(*EntryKind::ALL.get(n - 1).ok_or("bad kind")?),
    };
    let status = match f[5].parse::<usize>().map_err(|_| "bad status")? {
        0 => None,
        n => Some(*CommissionStatus::ALL.get(n - 1).ok_or("bad status")?),
    };
    Ok(BookedEntry {
        affiliate_id: text(f[0]),
        entry_id: text(f[1]),
        commission_id: text(f[2]),
        customer_id: optional(f[3])?,
        kind,
        status,
        amount: f[6].parse::<Decimal>().map_err(|_| "bad amount")?,
        currency: f[7].parse::<Currency>().map_err(|_| "bad currency")?,
        event_id: optional(f[8])?,
        effective_at: instant(f[9])?,
        recorded_at: instant(f[10])?,
        record_version: f[11].parse().map_err(|_| "bad record version")?,
        reason: text(f[12]),
        corrects: optional(f[13])?,
        statement_id: optional(f[14])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn every_field_round_trips_including_awkward_text() {
        let e = BookedEntry {
            affiliate_id: "aff\t1\\x".into(),
            entry_id: "evt-1#0".into(),
            commission_id: "evt-1#0".into(),
            customer_id: None,
            kind: BookedKind::Entry(EntryKind::Reversal),
            amount: Decimal::from_str("-124.90").unwrap(),
            currency: Currency::from_str("JPY").unwrap(),
            status: Some(CommissionStatus::Reversed),
            event_id: Some("evt\n1".into()),
            effective_at: "2026-11-02T10:00:00.123456789Z".parse().unwrap(),
            recorded_at: "1969-12-31T23:59:59.5Z".parse().unwrap(),
            record_version: 42,
            reason: "".into(),
            corrects: Some("-".into()),
            statement_id: None,
        };
        let mut line = String::new();
        encode(&e, &mut line);
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(decode(line.trim_end_matches('\n')).unwrap(), e);
        let payout = BookedEntry {
            kind: BookedKind::Payout,
            status: None,
            statement_id: Some("st".into()),
            ..e
        };
        let mut line = String::new();
        encode(&payout, &mut line);
        assert_eq!(decode(line.trim_end_matches('\n')).unwrap(), payout);
    }
}
