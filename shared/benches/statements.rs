//! Statements from an export of 10^5 and 10^6 ledger entries over 10,000 affiliates: the release
//! `statements` binary run as a child process (it is single-threaded), its wall time, CPU time and
//! peak resident memory (`wait4`'s `ru_maxrss`) printed per size.
//!
//!   cargo bench -p shared --features finance --bench statements
//!
//! Targets: 10^6 entries in under 10 s on one core; peak memory under 100 MB and flat in the
//! export's size. The export is generated first (not timed): per affiliate, commissions that are
//! approved, some adjusted, some reversed, some held or cancelled, and a payout.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use shared::finance::export::write_export;
use shared::finance::fixture::synthetic_ledger;

const AFFILIATES: usize = 10_000;

fn ledger(entries: usize) -> impl Iterator<Item = String> {
    synthetic_ledger(
        entries,
        AFFILIATES,
        &["USD"],
        "2026-10-01T00:00:00Z".parse().unwrap(),
        60,
        0x9E37_79B9_7F4A_7C15,
    )
    .map(|e| e.to_export_line())
}

struct Measured {
    wall: f64,
    user: f64,
    system: f64,
    max_rss_kib: i64,
}

// Reaped with wait4 (for its rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn run_statements(export: &Path, out: &Path) -> Measured {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_statements"))
        .args(["--no-progress", "--export"])
        .arg(export)
        .arg("--out")
        .arg(out)
        .arg("--from")
        .arg("2026-11-01T00:00:00Z")
        .spawn()
        .expect("start statements");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4 on our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "statements failed"
    );
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        wall,
        user: secs(usage.ru_utime),
        system: secs(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
    }
}

fn main() {
    let root = std::env::temp_dir().join(format!("statements-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut results = Vec::new();
    for entries in [100_000usize, 1_000_000] {
        let folder = root.join(format!("export-{entries}/AWSDynamoDB/bench"));
        let generated = Instant::now();
        let files = (entries / 100_000).max(1) * 4;
        let written = write_export(
            &folder,
            "arn:aws:dynamodb:us-east-1:123456789012:table/prop-ledger",
            "2027-01-01T00:00:00Z".parse().unwrap(),
            files,
            ledger(entries),
        )
        .expect("write the export");
        let size: u64 = std::fs::read_dir(folder.join("data"))
            .unwrap()
            .map(|f| f.unwrap().metadata().unwrap().len())
            .sum();
        println!(
            "export: {written} entries, {AFFILIATES} affiliates, {files} files, {:.1} MB gzip (generated in {:.1} s)",
            size as f64 / 1e6,
            generated.elapsed().as_secs_f64()
        );
        let m = run_statements(&folder, &root.join(format!("out-{entries}")));
        let statements = std::fs::read_dir(root.join(format!("out-{entries}")))
            .unwrap()
            .filter(|f| {
                f.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|e| e == "html")
            })
            .count();
        println!(
            "statements: {written} entries -> {statements} statements: wall {:.2} s, CPU {:.2} s user + {:.2} s system (one thread), peak RSS {:.1} MB, {:.0} entries/s",
            m.wall,
            m.user,
            m.system,
            m.max_rss_kib as f64 / 1024.0,
            written as f64 / m.wall
        );
        results.push((entries, m));
        // Kept until the end: on ext4, creating files right after deleting tens of thousands is
        // several times slower (the allocator skips recently freed inodes), which would charge
        // this run's deletions to the next measurement.
    }
    let (small, large) = (&results[0].1, &results[1].1);
    println!(
        "peak memory 10^6 / 10^5 entries: {:.2} (flat = 1); targets: < 10 s and < 100 MB at 10^6: {} / {}",
        large.max_rss_kib as f64 / small.max_rss_kib as f64,
        if large.wall < 10.0 { "met" } else { "NOT met" },
        if large.max_rss_kib < 100 * 1024 { "met" } else { "NOT met" },
    );
    let _ = std::fs::remove_dir_all(&root);
}
