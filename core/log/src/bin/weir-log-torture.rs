//! `weir-log-torture DIR [THREADS] [SEED]`: appends batches of varying size to the partition
//! log in DIR forever with fsync group commit, printing `first next crc` for every append
//! once it is durable. The crash test kills it with SIGKILL at random moments and checks that
//! every printed append survived; it is also a quick way to torture a disk by hand.
//!
//! `weir-log-torture DIR --file-size-limit BYTES` instead writes with one thread under
//! `RLIMIT_FSIZE`, so appends fail the way they do on a full disk: it prints `failed <error>`
//! and `end <log end offset> <bytes>` after the first failure, checks that three more appends
//! fail without changing the log, closes it cleanly and exits 0.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use weir_log::testing::BatchBuilder;
use weir_log::{FlushMode, FlushPolicy, LogConfig, PartitionLog, SystemClock};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: weir-log-torture DIR [THREADS] [SEED]");
        std::process::exit(2);
    };
    let second = args.next();
    if second.as_deref() == Some("--file-size-limit") {
        let limit = args.next().and_then(|a| a.parse().ok()).unwrap_or(40_000);
        fill_until_full(&dir, limit);
        return;
    }
    let threads: usize = second.and_then(|a| a.parse().ok()).unwrap_or(2);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let config = torture_config();
    let log = match PartitionLog::open(&dir, config, Arc::new(SystemClock)) {
        Ok(log) => Arc::new(log),
        Err(e) => {
            eprintln!("weir-log-torture: {e}");
            std::process::exit(1);
        }
    };
    let workers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || write_forever(&log, seed.wrapping_mul(31).wrapping_add(t)))
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
}

fn torture_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 1024,
        flush: FlushPolicy {
            mode: FlushMode::Fsync,
            ..FlushPolicy::default()
        },
        ..LogConfig::default()
    }
}

fn fill_until_full(dir: &std::path::Path, limit: u64) {
    limit_file_size(limit);
    let log =
        PartitionLog::open(dir, torture_config(), Arc::new(SystemClock)).unwrap_or_else(|e| {
            eprintln!("weir-log-torture: {e}");
            std::process::exit(1);
        });
    let batch = BatchBuilder::new().records(10, 300).build();
    loop {
        match log.append(&batch, 1) {
            Ok(info) => {
                log.make_durable(info.next_offset).expect("sync");
                println!("{} {} 0", info.first_offset, info.next_offset);
            }
            Err(e) => {
                println!("failed {e}");
                break;
            }
        }
    }
    let (end, size) = (log.log_end_offset(), log.size_bytes());
    println!("end {end} {size}");
    for _ in 0..3 {
        assert!(
            log.append(&batch, 1).is_err(),
            "append past the limit succeeded"
        );
        assert_eq!(
            (log.log_end_offset(), log.size_bytes()),
            (end, size),
            "a failed append changed the log"
        );
    }
    log.close().expect("closing after the failures");
}

/// Makes writes past `bytes` in any file fail with EFBIG, as a full disk fails them.
#[allow(unsafe_code)]
fn limit_file_size(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: plain libc calls with valid arguments; ignoring SIGXFSZ turns the signal a
    // write past the limit would raise into an EFBIG error from that write.
    let ok = unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN) != libc::SIG_ERR
            && libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0
    };
    assert!(
        ok,
        "setting RLIMIT_FSIZE: {}",
        std::io::Error::last_os_error()
    );
}

fn write_forever(log: &PartitionLog, mut state: u64) {
    let stdout = std::io::stdout();
    loop {
        // xorshift: varied batch shapes without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let records = 1 + (state % 40) as usize;
        let value_len = (state >> 8) as usize % 400;
        let batch = BatchBuilder::new()
            .base_timestamp((state >> 20) as i64 % 1_000_000)
            .records(records, value_len)
            .build();
        let info = match log.append(&batch, 1) {
            Ok(info) => info,
            Err(e) => {
                eprintln!("append failed: {e}");
                std::process::exit(1);
            }
        };
        if let Err(e) = log.make_durable(info.next_offset) {
            eprintln!("sync failed: {e}");
            std::process::exit(1);
        }
        let crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
        let mut out = stdout.lock();
        let _ = writeln!(out, "{} {} {crc}", info.first_offset, info.next_offset);
        let _ = out.flush();
    }
}
