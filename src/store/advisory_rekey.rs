//! Re-keys stored advisories whose `advisory_packages` keys an older regscan computed for the
//! rpm distributions, before Red Hat repository streams, SUSE releases and modularity streams
//! were keyed as `regscan_osv::streams` keys them. A re-import does not do it: a record with an
//! unchanged `modified` is kept as stored, keys and all.
//!
//! Runs once, when the store opens after migration 12 (whose `advisory_rekey_pending` row it
//! deletes when done). Stale records are found by the shape of their keys: a Red Hat key with a
//! repository stream, a `SUSE:Linux Enterprise …` product, a record with module versions but no
//! module key.

use std::collections::BTreeSet;

use sqlx::{Acquire, Row};

use super::sql::SqlBuilder;
use super::{Store, StoreError};

/// Records read (and re-keyed, one transaction) per batch.
const BATCH: i64 = 500;

/// Most key rows in one multi-row `INSERT`.
const ROWS_PER_INSERT: usize = 1_000;

/// Stored records that may carry keys of the old scheme, after `$1` in id order.
const STALE: &str = "SELECT id, raw FROM advisories WHERE id > $1 AND (
      id IN (SELECT advisory_id FROM advisory_packages
             WHERE (ecosystem LIKE 'Red Hat:%::%' AND ecosystem NOT LIKE '%::sap' AND ecosystem NOT LIKE '%::sap_hana')
                OR ecosystem LIKE 'SUSE:Linux Enterprise %')
   OR (raw LIKE '%.module%'
       AND id IN (SELECT advisory_id FROM advisory_packages
                  WHERE ecosystem LIKE 'Red Hat:%' OR ecosystem LIKE 'Rocky Linux:%' OR ecosystem LIKE 'AlmaLinux:%')
       AND id NOT IN (SELECT advisory_id FROM advisory_packages WHERE ecosystem LIKE '% module:%')))
 ORDER BY id LIMIT $2";

impl Store {
    /// Recompute the keys of stored rpm-distribution records keyed by an older scheme; one pass
    /// in id order, so a record whose keys do not change is read once and left alone.
    pub(crate) async fn rekey_rpm_advisories(&self) -> Result<(), StoreError> {
        let pending = sqlx::query("SELECT scheme FROM advisory_rekey_pending WHERE scheme = 'rpm-streams'")
            .fetch_optional(&self.pool)
            .await?;
        if pending.is_none() {
            return Ok(());
        }
        let mut after = String::new();
        loop {
            let rows = sqlx::query(STALE)
                .bind(&after)
                .bind(BATCH)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            let mut changed: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for r in &rows {
                let id: String = r.try_get("id")?;
                let raw: String = r.try_get("raw")?;
                // An unreadable record is left as stored; matching leaves it out too.
                let Ok(adv) = regscan_osv::parse_advisory(raw.as_bytes()) else {
                    continue;
                };
                let keys = regscan_osv::AdvisoryIndex::affected_keys(&adv);
                let stored: BTreeSet<(String, String)> =
                    sqlx::query("SELECT ecosystem, name FROM advisory_packages WHERE advisory_id = $1")
                        .bind(&id)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|k| Ok((k.try_get("ecosystem")?, k.try_get("name")?)))
                        .collect::<Result<_, sqlx::Error>>()?;
                if stored != keys.iter().cloned().collect::<BTreeSet<_>>() {
                    changed.push((id, keys));
                }
            }
            if changed.is_empty() {
                continue;
            }
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin().await?;
            for (id, keys) in &changed {
                sqlx::query("DELETE FROM advisory_packages WHERE advisory_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for chunk in keys.chunks(ROWS_PER_INSERT) {
                    let mut b = SqlBuilder::new(
                        self.backend,
                        "INSERT INTO advisory_packages (advisory_id, ecosystem, name) ",
                    );
                    b.push_values(chunk, |mut row, (eco, name)| {
                        row.push_bind(id.as_str())
                            .push_bind(eco.as_str())
                            .push_bind(name.as_str());
                    });
                    b.build()?.execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            tracing::info!(records = changed.len(), "re-keyed stored rpm-distribution advisories");
        }
        sqlx::query("DELETE FROM advisory_rekey_pending WHERE scheme = 'rpm-streams'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
