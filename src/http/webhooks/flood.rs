//! Flood control for the webhook event log: requests rejected as a whole (no or wrong token,
//! body too large, malformed payload) are always counted in metrics, but written to the log
//! rate-limited per source address. Each source (an IPv4 address, or the /64 of an IPv6 address)
//! has a token bucket of `http.rejected_log_burst` rows refilled at
//! `http.rejected_log_per_minute`; past it, rejections are only counted, and one summary row per
//! source (`N more rejected requests from ADDR were not logged one by one`) is written at the
//! next [`RejectLimiter::take_summaries`] (every [`SUMMARY_INTERVAL`], and on flush).
//!
//! At most [`MAX_SOURCES`] sources are tracked; beyond that, new sources share one bucket, so an
//! attacker rotating addresses cannot grow memory or the log either.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::events::EventRecord;

/// Sources tracked at once.
pub const MAX_SOURCES: usize = 10_000;
/// How often summary rows are written.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Whom a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    /// One address (IPv4, or an IPv6 /64).
    Addr(IpAddr),
    /// Sources past [`MAX_SOURCES`], and requests whose address is unknown.
    Other,
}

impl Source {
    fn of(peer: Option<IpAddr>) -> Source {
        match peer.map(crate::registry::ssrf::canonical) {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                Source::Addr(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
            }
            Some(ip) => Source::Addr(ip),
            None => Source::Other,
        }
    }

    fn describe(self) -> String {
        match self {
            Source::Addr(ip @ IpAddr::V6(_)) => format!("{ip}/64"),
            Source::Addr(ip) => ip.to_string(),
            Source::Other => "other or unknown addresses".into(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
    last: Option<EventRecord>,
}

/// Per-source token buckets for the rejected-request rows (see the module docs).
#[derive(Debug)]
pub struct RejectLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<Source, Bucket>>,
}

impl RejectLimiter {
    /// `burst` rows at once per source, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        RejectLimiter {
            burst: f64::from(burst),
            per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::default(),
        }
    }

    /// Whether to write `record` (a rejected request from `peer`) now; if not, it is counted
    /// for the source's next summary row.
    pub fn admit(&self, peer: Option<IpAddr>, record: &EventRecord) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut source = Source::of(peer);
        if !buckets.contains_key(&source) && buckets.len() >= MAX_SOURCES {
            // Forget sources that are quiet (full bucket, nothing to report), else share one.
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets.retain(|_, b| {
                b.suppressed > 0 || b.tokens + now.duration_since(b.refilled).as_secs_f64() * per_sec < burst
            });
            if buckets.len() >= MAX_SOURCES {
                source = Source::Other;
            }
        }
        let b = buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
            suppressed: 0,
            last: None,
        });
        b.tokens = (b.tokens + now.duration_since(b.refilled).as_secs_f64() * self.per_sec).min(self.burst);
        b.refilled = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            b.suppressed += 1;
            b.last = Some(record.clone());
            false
        }
    }

    /// One summary row per source with rejections not logged since the last call.
    pub fn take_summaries(&self) -> Vec<EventRecord> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (source, b) in buckets.iter_mut() {
            let Some(mut rec) = b.last.take().filter(|_| b.suppressed > 0) else {
                continue;
            };
            rec.reason = Some(format!(
                "rate limit: {} more rejected requests from {} were not logged one by one (last: {})",
                b.suppressed,
                source.describe(),
                rec.reason.as_deref().unwrap_or("rejected")
            ));
            b.suppressed = 0;
            out.push(rec);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_summary_per_source() {
        let l = RejectLimiter::new(3, 0);
        let rec = EventRecord::rejected("distribution", 401, "wrong webhook token");
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b2: IpAddr = "2001:db8::2".parse().unwrap();
        let admitted = (0..100).filter(|_| l.admit(Some(a), &rec)).count();
        assert_eq!(admitted, 3);
        assert!(l.admit(Some(b), &rec), "another source has its own bucket");
        assert!(l.admit(Some(b2), &rec) && l.admit(Some(b2), &rec));
        assert!(!l.admit(Some(b), &rec), "one /64 is one source");
        let mut s = l.take_summaries();
        s.sort_by_key(|r| r.reason.clone());
        assert_eq!(s.len(), 2);
        assert!(s[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("1 more rejected requests from 2001:db8::/64"));
        assert!(s[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("97 more rejected requests from 192.0.2.1"));
        assert!(l.take_summaries().is_empty(), "counted once");
    }

    #[test]
    fn sources_past_the_limit_share_a_bucket() {
        let l = RejectLimiter::new(1, 0);
        let rec = EventRecord::rejected("distribution", 401, "x");
        for i in 0..(MAX_SOURCES as u32 + 50) {
            l.admit(Some(IpAddr::from(i.to_be_bytes())), &rec);
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_SOURCES + 1);
    }
}
