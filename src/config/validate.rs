//! Checks of a loaded configuration: [`Config::load`] refuses a configuration that fails one,
//! with an error naming the key, so nothing downstream has to clamp or second-guess a value.
//!
//! The numeric ranges are listed on [`Config::validate_ranges`], in README.md ("Configuration")
//! and in `deploy/regscan.toml`.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use super::{redact_url, Config, ConfigError};

/// `value` of `key` is within `range`.
fn check(key: impl Into<String>, value: u64, range: RangeInclusive<u64>) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(ConfigError::OutOfRange {
        key: key.into(),
        value,
        min: *range.start(),
        max: *range.end(),
    })
}

impl Config {
    /// Every bounded numeric key is within its range:
    ///
    /// | key | allowed | why the bounds |
    /// |---|---|---|
    /// | `worker.concurrency` | 1 – 1024 | at least one job at a time; also RabbitMQ's prefetch |
    /// | `worker.kind_concurrency.<kind>` | 1 – 1024 | 0 would stop that kind for good |
    /// | `worker.max_attempts` | 1 – 50 | RabbitMQ declares a retry queue per attempt |
    /// | `worker.retry_base_delay_secs` | 1 – 3600 | retries wait at most an hour anyway |
    /// | `worker.lease_secs` | 3 – 3600 | a lease is renewed every third of it |
    /// | `notifications.buffer` | 1 – 1,000,000 | events held in memory |
    /// | `notifications.max_attempts` | 1 – 50 | |
    /// | `notifications.retry_base_delay_ms` | 1 – 60,000 | delays stop growing at 30 s |
    /// | `notifications.webhook` `timeout_secs` | 1 – 300 | |
    /// | `retention.batch_size` | 1 – 100,000 | rows per DELETE statement |
    /// | `retention.interval_secs` | 1 – 604,800 | at most a week between passes |
    fn validate_ranges(&self) -> Result<(), ConfigError> {
        let w = &self.worker;
        let n = &self.notifications;
        let r = &self.retention;
        let wide = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        for (key, value, range) in [
            ("worker.concurrency", wide(w.concurrency), 1..=1024),
            ("worker.max_attempts", u64::from(w.max_attempts), 1..=50),
            ("worker.retry_base_delay_secs", w.retry_base_delay_secs, 1..=3600),
            ("worker.lease_secs", w.lease_secs, 3..=3600),
            ("notifications.buffer", wide(n.buffer), 1..=1_000_000),
            ("notifications.max_attempts", u64::from(n.max_attempts), 1..=50),
            ("notifications.retry_base_delay_ms", n.retry_base_delay_ms, 1..=60_000),
            ("retention.batch_size", u64::from(r.batch_size), 1..=100_000),
            ("retention.interval_secs", r.interval_secs, 1..=604_800),
        ] {
            check(key, value, range)?;
        }
        for (kind, limit) in &w.kind_concurrency {
            check(format!("worker.kind_concurrency.{kind}"), wide(*limit), 1..=1024)?;
        }
        for (i, hook) in n.webhook.iter().enumerate() {
            check(
                format!("notifications.webhook #{} timeout_secs", i + 1),
                hook.timeout_secs,
                1..=300,
            )?;
        }
        Ok(())
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.sandbox.validate().map_err(ConfigError::Invalid)?;
        self.validate_ranges()?;
        let db = &self.database_url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid(format!(
                "database_url {:?} is neither sqlite:… nor postgres://…",
                redact_url(db)
            )));
        }
        let q = &self.queue_url;
        if q.starts_with("amqps://") {
            return Err(ConfigError::Invalid(format!(
                "queue_url {:?}: TLS to RabbitMQ is not built into regscan; use amqp:// on a trusted network or through a TLS-terminating proxy",
                redact_url(q)
            )));
        }
        if !(q.is_empty() || q.starts_with("amqp://")) {
            return Err(ConfigError::Invalid(format!(
                "queue_url {:?} is neither empty (embedded queue) nor amqp://…",
                redact_url(q)
            )));
        }
        for (i, r) in self.registries.iter().enumerate() {
            if r.host.is_empty() || r.host.contains('/') {
                return Err(ConfigError::Invalid(format!(
                    "registry #{}: host {:?} must be a host[:port] without scheme or path",
                    i + 1,
                    r.host
                )));
            }
            if let Some(realm) = &r.token_realm {
                let ok =
                    url::Url::parse(realm).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(ConfigError::Invalid(format!(
                        "registry {}: token_realm {realm:?} is not an http:// or https:// URL",
                        r.host
                    )));
                }
            }
        }
        for t in &self.api_tokens {
            if t.token_env.is_none() == t.token_file.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "api_tokens {:?}: set exactly one of token_env or token_file",
                    t.name
                )));
            }
        }
        for (i, w) in self.notifications.webhook.iter().enumerate() {
            let ok =
                url::Url::parse(&w.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "notifications.webhook #{}: url {:?} is not an http:// or https:// URL",
                    i + 1,
                    redact_url(&w.url)
                )));
            }
            if w.token_env.as_deref().is_some_and(str::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "notifications.webhook #{}: token_env must name an environment variable",
                    i + 1
                )));
            }
        }
        if self.notifications.rabbitmq && !self.queue_url.is_empty() && self.rabbitmq.events_exchange.trim().is_empty()
        {
            return Err(ConfigError::Invalid(
                "rabbitmq.events_exchange must name an exchange (or set notifications.rabbitmq = false)".into(),
            ));
        }
        self.validate_external_scanners()?;
        if !matches!(self.rabbitmq.queue_type.as_str(), "quorum" | "classic") {
            return Err(ConfigError::Invalid(format!(
                "rabbitmq.queue_type {:?} must be quorum or classic",
                self.rabbitmq.queue_type
            )));
        }
        Ok(())
    }

    /// Each `[[scanners.external]]` entry is complete, and its name is its own: not a built-in
    /// scanner's, not another entry's.
    fn validate_external_scanners(&self) -> Result<(), ConfigError> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, e) in self.scanners.external.iter().enumerate() {
            let at = format!("scanners.external #{} ({:?})", i + 1, e.name);
            e.validate().map_err(|m| ConfigError::Invalid(format!("{at}: {m}")))?;
            if crate::scanners::BUILT_IN.contains(&e.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "{at}: name {:?} is the name of a built-in scanner (built-in: {})",
                    e.name,
                    crate::scanners::BUILT_IN.join(", ")
                )));
            }
            if e.timeout_secs >= self.sandbox.wall_secs {
                return Err(ConfigError::Invalid(format!(
                    "{at}: timeout_secs ({}) must be below sandbox.wall_secs ({}), the time a whole scan may take",
                    e.timeout_secs, self.sandbox.wall_secs
                )));
            }
            if let Some(first) = seen.insert(&e.name, i + 1) {
                return Err(ConfigError::Invalid(format!(
                    "{at}: name {:?} is also the name of scanners.external #{first}",
                    e.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_text as load;

    #[test]
    fn numbers_out_of_range_are_refused_at_load_naming_key_value_and_range() {
        for (text, key, value, min, max) in [
            ("[worker]\nlease_secs = 2\n", "worker.lease_secs", 2, 3, 3600),
            ("[worker]\nlease_secs = 3601\n", "worker.lease_secs", 3601, 3, 3600),
            ("[worker]\nconcurrency = 0\n", "worker.concurrency", 0, 1, 1024),
            ("[worker]\nmax_attempts = 0\n", "worker.max_attempts", 0, 1, 50),
            ("[worker]\nmax_attempts = 51\n", "worker.max_attempts", 51, 1, 50),
            (
                "[worker]\nretry_base_delay_secs = 0\n",
                "worker.retry_base_delay_secs",
                0,
                1,
                3600,
            ),
            (
                "[worker]\nkind_concurrency = { image = 0 }\n",
                "worker.kind_concurrency.image",
                0,
                1,
                1024,
            ),
            ("[notifications]\nbuffer = 0\n", "notifications.buffer", 0, 1, 1_000_000),
            (
                "[notifications]\nmax_attempts = 0\n",
                "notifications.max_attempts",
                0,
                1,
                50,
            ),
            (
                "[notifications]\nretry_base_delay_ms = 0\n",
                "notifications.retry_base_delay_ms",
                0,
                1,
                60_000,
            ),
            (
                "[[notifications.webhook]]\nurl = \"http://h.example/\"\ntimeout_secs = 0\n",
                "notifications.webhook #1 timeout_secs",
                0,
                1,
                300,
            ),
            ("[retention]\nbatch_size = 0\n", "retention.batch_size", 0, 1, 100_000),
            (
                "[retention]\ninterval_secs = 0\n",
                "retention.interval_secs",
                0,
                1,
                604_800,
            ),
        ] {
            let err = load(text).unwrap_err();
            let message = err.to_string();
            match err {
                ConfigError::OutOfRange {
                    key: k,
                    value: v,
                    min: lo,
                    max: hi,
                } => assert_eq!((k.as_str(), v, lo, hi), (key, value, min, max), "{text}"),
                other => panic!("{text}: {other}"),
            }
            assert!(
                message.contains(key)
                    && message.contains(&format!("= {value} "))
                    && message.contains(&format!("allowed {min} to {max}")),
                "{message}"
            );
        }
    }

    #[test]
    fn the_bounds_themselves_and_the_defaults_load() {
        let c = load("[worker]\nlease_secs = 3\nconcurrency = 1024\nmax_attempts = 50\nretry_base_delay_secs = 3600\n[retention]\ninterval_secs = 604800\n").unwrap();
        assert_eq!((c.worker.lease_secs, c.worker.concurrency), (3, 1024));
        let c = load("[worker]\nlease_secs = 3600\nmax_attempts = 1\n[notifications]\nbuffer = 1000000\n").unwrap();
        assert_eq!((c.worker.lease_secs, c.worker.max_attempts), (3600, 1));
        Config::default().validate().expect("the defaults are in range");
    }
}
