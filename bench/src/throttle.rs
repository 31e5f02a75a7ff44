//! How the Graph stand-in throttles a run at scale, and the most writes it could admit:
//! the ceiling each phase's admitted writes are judged against. It is set by Graph's
//! documented limits, not derived from the code under test.

use graph_emulator::{Limits, Settings, TenantSize};

/// The throttle of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GraphThrottle {
    /// Graph's documented identity-and-access limits for a tenant of this size
    /// ([`Limits::documented`]): ResourceUnits per 10 s, 3,000 writes per 150 s for the
    /// factory in its tenant, 18,000 per 5 min for the tenant.
    Documented(TenantSize),
    /// A bucket of R writes a second, holding one second's: a stand-in small enough for a
    /// short run (the smoke test's 20 resources) to meet it.
    WriteRate(f64),
}

impl GraphThrottle {
    /// Graph's documented limits for a tenant under 50 users, the strictest.
    pub const DOCUMENTED: Self = Self::Documented(TenantSize::Small);

    /// Sets the stand-in's `settings` to throttle this way.
    pub fn apply(self, settings: &mut Settings) {
        match self {
            Self::Documented(size) => settings.limits = Some(Limits::documented(size)),
            Self::WriteRate(rate) => settings.write_rate_limit = Some(rate),
        }
    }

    /// The writes a second it admits once any burst is spent.
    pub fn sustained_writes_per_s(self) -> f64 {
        match self {
            Self::Documented(size) => Limits::documented(size).write_ceiling(0.0, 1.0),
            Self::WriteRate(rate) => rate,
        }
    }

    /// The most writes it admits over `seconds` from a start at which it would admit
    /// `available` at once (the documented buckets' state, read from the stand-in).
    pub fn ceiling(self, available: Option<f64>, seconds: f64) -> f64 {
        match self {
            Self::Documented(size) => {
                Limits::documented(size).write_ceiling(available.unwrap_or(0.0), seconds)
            }
            Self::WriteRate(rate) => rate * seconds + rate.max(1.0),
        }
    }

    /// What it is, for the report.
    pub fn describe(self) -> String {
        match self {
            Self::Documented(size) => {
                let units = Limits::documented(size).resource_units.amount;
                format!(
                    "Graph's documented limits (a tenant {}: {units:.0} ResourceUnits per 10 s; \
                     3,000 writes per 150 s for the factory, 18,000 per 5 min for the tenant)",
                    match size {
                        TenantSize::Small => "under 50 users",
                        TenantSize::Medium => "of 50 to 500 users",
                        TenantSize::Large => "above 500 users",
                    }
                )
            }
            Self::WriteRate(rate) => format!("Graph writes throttled at R = {rate} /s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_ceiling_is_the_burst_left_and_twenty_writes_a_second() {
        let documented = GraphThrottle::DOCUMENTED;
        assert_eq!(documented.sustained_writes_per_s(), 20.0);
        assert_eq!(documented.ceiling(Some(3_000.0), 100.0), 5_000.0);
        assert_eq!(GraphThrottle::WriteRate(20.0).ceiling(None, 10.0), 220.0);
    }
}
