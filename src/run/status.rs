//! What a running pipeline shows: on a terminal, one live line per component (events per
//! second, total, lag, failures), redrawn every second; otherwise (a service, a pipe) the
//! same lines as plain log records every `LOG_INTERVAL`, so logs stay greppable.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use weir_client::Admin;
use weir_connectors::status::lock;

use super::components::{Component, Counters};
use super::supervisor::Phase;

/// How often the lines are refreshed on a terminal.
const TICK: Duration = Duration::from_secs(1);
/// How often the lines are logged when stderr is not a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One component's figures at one moment.
struct Sample {
    total: u64,
    at: Instant,
}

/// Shows the status of `components` until `stop` turns true.
pub(crate) async fn show(
    components: Vec<&Component>,
    admin: Admin,
    mut stop: watch::Receiver<bool>,
) {
    let terminal = std::io::stderr().is_terminal();
    let bars = terminal.then(|| {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
        components
            .iter()
            .map(|_| multi.add(ProgressBar::new_spinner().with_style(style.clone())))
            .collect::<Vec<_>>()
    });
    let interval = if terminal { TICK } else { LOG_INTERVAL };
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    let mut last: BTreeMap<usize, Sample> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        for (index, component) in components.iter().enumerate() {
            let total = total_of(component);
            let now = Instant::now();
            let rate = last.get(&index).map_or(0.0, |before| {
                let seconds = now.duration_since(before.at).as_secs_f64();
                (total.saturating_sub(before.total)) as f64 / seconds.max(0.001)
            });
            last.insert(index, Sample { total, at: now });
            let lag = lag_of(component, &admin).await;
            let line = line(component, rate, total, lag);
            match &bars {
                Some(bars) => bars[index].set_message(line),
                None => tracing::info!("{line}"),
            }
        }
    }
    if let Some(bars) = bars {
        for bar in bars {
            bar.finish();
        }
    }
}

/// `source  orders  running  12.0/s  total 120  lag 0  failures 0`.
fn line(component: &Component, rate: f64, total: u64, lag: Option<i64>) -> String {
    let health = component
        .health
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let phase = match health.phase {
        Phase::Running => "running",
        Phase::Restarting => "restarting",
        Phase::Stopped => "stopped",
    };
    let lag = lag.map_or_else(|| "-".to_owned(), |lag| lag.to_string());
    let mut line = format!(
        "{:<8} {:<20} {:<10} {:>9.1}/s  total {:<10} lag {:<8} failures {}",
        component.kind, component.name, phase, rate, total, lag, health.failures
    );
    if health.phase == Phase::Restarting
        && let Some(error) = &health.last_error
    {
        line.push_str(&format!("  ({error})"));
    }
    line
}

fn total_of(component: &Component) -> u64 {
    match &component.counters {
        Counters::Source(status) => lock(status).events,
        Counters::Consumer { progress, .. } => progress.records.load(Ordering::Relaxed),
    }
}

/// A source's lag in its own unit (bytes for files, rows for databases); a consumer's, the
/// records its group has not committed yet.
async fn lag_of(component: &Component, admin: &Admin) -> Option<i64> {
    match &component.counters {
        Counters::Source(status) => lock(status).lag.map(|lag| lag as i64),
        Counters::Consumer { group, .. } => {
            let lags = tokio::time::timeout(TICK, admin.group_lag(group))
                .await
                .ok()?
                .ok()?;
            Some(lags.iter().filter_map(|p| p.lag).sum())
        }
    }
}
