//! `schedule = "<cron>"`: the fixed times at which pending events are emitted whatever the
//! thresholds say. Five fields (minute first) or six and seven (seconds first, year last).

use std::str::FromStr;
use std::time::Duration;

/// A parsed cron schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: cron::Schedule,
}

impl Schedule {
    /// Parses `expression`; a five-field one fires at second 0 of its minutes.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {expression}")
        } else {
            expression.to_owned()
        };
        cron::Schedule::from_str(&full)
            .map(|cron| Self { cron })
            .map_err(|error| format!("not a cron schedule: {error}"))
    }

    /// How long from now until the schedule next fires; `None` if it never will again.
    pub fn until_next(&self) -> Option<Duration> {
        let now = chrono::Utc::now();
        let next = self.cron.after(&now).next()?;
        (next - now).to_std().ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn five_and_six_fields_parse_and_fire_soon() {
        let every_second = Schedule::parse("* * * * * *").unwrap();
        assert!(every_second.until_next().unwrap() <= Duration::from_secs(1));
        let every_minute = Schedule::parse("* * * * *").unwrap();
        assert!(every_minute.until_next().unwrap() <= Duration::from_secs(60));
        assert!(Schedule::parse("every tuesday").is_err());
    }
}
