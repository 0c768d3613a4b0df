//! The flags every client command shares (`--bootstrap`, `--timeout`) and the first thing
//! each does with them: ask the cluster for its brokers, so an unreachable cluster is one
//! line on stderr within the timeout instead of a long wait for a delivery timeout.

use std::time::Duration;

use anyhow::Context as _;
use weir_client::{Admin, AdminConfig};

/// Where the cluster is and how long to wait for it.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ClusterArgs {
    /// A broker to learn the cluster from (host:port).
    #[arg(long, default_value = "127.0.0.1:9092", global = true)]
    pub(crate) bootstrap: String,
    /// How long one request may take, connecting included: 10s, 500ms, 2m (bare numbers
    /// are seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration, global = true)]
    pub(crate) timeout: Duration,
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 10s, 500ms or 2m)"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("{text:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl ClusterArgs {
    /// An admin client with these settings.
    pub(crate) fn admin(&self) -> anyhow::Result<Admin> {
        Ok(Admin::new(
            AdminConfig::new([self.bootstrap.clone()]).with_request_timeout(self.timeout),
        )?)
    }

    /// Fails, in one line, unless a broker of the cluster answers within the timeout.
    pub(crate) async fn check_reachable(&self) -> anyhow::Result<()> {
        self.admin()?
            .brokers()
            .await
            .with_context(|| format!("cannot reach the cluster at {}", self.bootstrap))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
