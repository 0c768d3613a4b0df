//! Log sequence numbers: a position in Postgres's write-ahead log, written `X/Y` (two hex
//! halves) in SQL and in checkpoints.

use std::fmt;

/// A WAL position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Reads `X/Y`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (high, low) = text.split_once('/')?;
        let high = u64::from_str_radix(high, 16).ok()?;
        let low = u64::from_str_radix(low, 16).ok()?;
        (high <= u64::from(u32::MAX) && low <= u64::from(u32::MAX))
            .then_some(Self(high << 32 | low))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let lsn = Lsn(0x16_B374_8A20);
        assert_eq!(lsn.to_string(), "16/B3748A20");
        assert_eq!(Lsn::parse("16/B3748A20"), Some(lsn));
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert_eq!(Lsn::parse("nope"), None);
    }
}
