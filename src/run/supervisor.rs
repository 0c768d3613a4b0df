//! Keeping one component (a source, a consumer) running: it is started again after a
//! failure, with a backoff that doubles up to a ceiling, and each failure is counted and
//! logged; the pipeline never stops because one component did. A stop request ends the
//! loop once the running attempt has stopped cleanly (checkpointed, committed).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The first wait before a failed component is started again.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A component that ran this long before failing starts again after the first backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Where a supervised component is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Starting or running.
    Running,
    /// Failed; started again at the end of the backoff.
    Restarting,
    /// Stopped on request.
    Stopped,
}

/// What the supervisor knows of its component, for the status lines.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    /// Running, restarting or stopped.
    pub(crate) phase: Phase,
    /// Failures so far.
    pub(crate) failures: u64,
    /// The last failure, as the component reported it.
    pub(crate) last_error: Option<String>,
}

/// A health shared between a supervisor and the status display.
pub(crate) type HealthHandle = Arc<Mutex<Health>>;

/// A new health, running.
pub(crate) fn new_health() -> HealthHandle {
    Arc::new(Mutex::new(Health {
        phase: Phase::Running,
        failures: 0,
        last_error: None,
    }))
}

/// Runs `attempt` (given the stop signal) until `stop` turns true, starting it again after
/// each failure. `what` names the component in logs (`source orders`).
pub(crate) async fn supervise<F, Fut>(
    what: String,
    health: HealthHandle,
    mut stop: watch::Receiver<bool>,
    mut attempt: F,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let outcome = attempt(stop.clone()).await;
        if *stop.borrow() {
            if let Err(error) = outcome {
                tracing::warn!(component = what, %error, "failed while stopping");
            }
            break;
        }
        let error = outcome
            .err()
            .unwrap_or_else(|| "stopped on its own".to_owned());
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        {
            let mut health = health.lock().unwrap_or_else(PoisonError::into_inner);
            health.phase = Phase::Restarting;
            health.failures += 1;
            health.last_error = Some(error.clone());
        }
        tracing::warn!(
            component = what,
            %error,
            retry_in_ms = backoff.as_millis() as u64,
            "component failed; starting it again"
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        health.lock().unwrap_or_else(PoisonError::into_inner).phase = Phase::Running;
    }
    health.lock().unwrap_or_else(PoisonError::into_inner).phase = Phase::Stopped;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_component_is_restarted_with_backoff_until_stopped() {
        let health = new_health();
        let (stop, stopped) = watch::channel(false);
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&attempts);
        let supervisor = tokio::spawn(supervise(
            "test".to_owned(),
            Arc::clone(&health),
            stopped,
            move |_| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(tokio::time::Instant::now());
                    Err::<(), _>("boom".to_owned())
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(4)).await;
        let _ = stop.send(true);
        let _ = supervisor.await;
        let times = attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Attempts at 0, 0.5, 1.5 and 3.5 s: the backoff doubles.
        assert_eq!(times.len(), 4, "{times:?}");
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, [500, 1000, 2000].map(Duration::from_millis).to_vec());
        let health = health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(health.failures, 4);
        assert_eq!(health.phase, Phase::Stopped);
        assert_eq!(health.last_error.as_deref(), Some("boom"));
    }
}
