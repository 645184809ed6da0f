//! Time in regscan, in one place: the clock, the date formats, and retry delays.
//!
//! - Timestamps are Unix milliseconds (`i64`) everywhere they are stored or compared.
//! - [`Clock`] is where rules that depend on time passing read "now": the embedded queue's
//!   leases and retry times, and scan claims ([`crate::store::Store::with_clock`]). Production
//!   uses [`SystemClock`]; tests use [`ManualClock`] and move it forward instead of sleeping.
//!   Plain record stamps (`created_at`, an event's `time`) read [`now_ms`].
//! - Dates are written as RFC 3339 UTC with whole seconds ([`rfc3339`]) and read from RFC 3339
//!   ([`parse_rfc3339_ms`]) and HTTP dates ([`parse_http_date`]), through the `time` and
//!   `httpdate` crates.
//! - [`Backoff`] is the one doubling-delay rule (registry requests, queue retries, RabbitMQ
//!   reconnects, notification deliveries), each caller with its own base and cap.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Where "now" comes from, for rules that depend on time passing.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// A shared clock handle, as the store and the queue keep it.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that only moves when told to (tests). Clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `ms` (Unix milliseconds).
    pub fn at(ms: i64) -> Self {
        ManualClock {
            ms: Arc::new(AtomicI64::new(ms)),
        }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(by)));
    }

    /// Set the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

/// The system clock as a shared handle.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// Now, in Unix milliseconds, from the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The first and last Unix second RFC 3339 can write (0000-01-01 and 9999-12-31).
const RFC3339_SECS: (i64, i64) = (-62_167_219_200, 253_402_300_799);

/// Unix ms as RFC 3339 UTC with whole seconds (`2026-03-09T02:11:37Z`). Times outside the years
/// 0000–9999 are written as the nearest end of that range.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000).clamp(RFC3339_SECS.0, RFC3339_SECS.1);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Parse an RFC 3339 time (`2024-01-02T03:04:05.678Z`; offsets, a space or lowercase `t`/`z`
/// allowed; no offset at all is read as UTC) to Unix ms. `None` for anything else.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parse an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, and the two obsolete forms HTTP still
/// accepts). `None` for anything else, or outside the years 1970–9999.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Doubling delays: `base · 2^(attempt-1)` for attempt 1, 2, …, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delays from `base`, doubling, capped at `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The delay before retry number `attempt` (1-based; 0 counts as 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_whole_seconds_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_773_022_297_555), "2026-03-09T02:11:37Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z", "clamped, never a panic");
        assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_parses_what_advisory_feeds_and_users_write() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2026-03-09T02:11:37.555571Z"), Some(1_773_022_297_555));
        assert_eq!(parse_rfc3339_ms("2026-03-09T04:11:37+02:00"), Some(1_773_022_297_000));
        assert_eq!(parse_rfc3339_ms("2026-03-09 02:11:37z"), Some(1_773_022_297_000));
        assert_eq!(
            parse_rfc3339_ms("2026-03-09T02:11:37"),
            Some(1_773_022_297_000),
            "no offset is UTC"
        );
        assert!(parse_rfc3339_ms("yesterday").is_none());
        assert!(parse_rfc3339_ms("2026-13-09T02:11:37Z").is_none(), "month 13");
        assert!(
            parse_rfc3339_ms("2026-03-09T02:11:37.éé5Z").is_none(),
            "non-ASCII never panics"
        );
        assert!(
            parse_rfc3339_ms("2026-03-09T02:11:37.5Z").unwrap() > parse_rfc3339_ms("2026-03-09T02:11:37Z").unwrap()
        );
        for ms in [0, 1_773_022_297_000, 253_402_300_799_000] {
            assert_eq!(parse_rfc3339_ms(&rfc3339(ms)), Some(ms), "round trip");
        }
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert!(parse_http_date("Sun, 06 Nov 1994 4000000000000000:00:00 GMT").is_none());
        assert!(parse_http_date("Sun, 06 Nov 0000 08:49:37 GMT").is_none());
        assert!(parse_http_date("soon").is_none());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(3600));
        assert_eq!(b.delay(0), Duration::from_secs(2));
        assert_eq!(b.delay(1), Duration::from_secs(2));
        assert_eq!(b.delay(2), Duration::from_secs(4));
        assert_eq!(b.delay(4), Duration::from_secs(16));
        assert_eq!(b.delay(60), Duration::from_secs(3600));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(3600));
        let small = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        assert_eq!(small.delay(4), Duration::from_millis(800));
        assert_eq!(small.delay(40), Duration::from_secs(30));
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = ManualClock::at(1_000);
        let shared: SharedClock = Arc::new(c.clone());
        assert_eq!(shared.now_ms(), 1_000);
        c.advance(Duration::from_secs(3));
        assert_eq!(shared.now_ms(), 4_000);
        c.set(10);
        assert_eq!(shared.now_ms(), 10);
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }
}
