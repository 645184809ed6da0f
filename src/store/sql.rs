//! The one way the store assembles SQL at run time: [`SqlBuilder`], with `sqlx::QueryBuilder`'s
//! shape (`push`, `push_bind`, `separated`, `push_values`, `build`) plus `push_bind_list` for
//! `IN (…)` lists.
//!
//! Statements known at compile time stay plain `sqlx::query("… $1 …")`; a statement whose shape
//! depends on its input (optional filters, multi-row inserts, `IN` lists) is built here, so that
//! every value is bound (typed, never spliced into the text) and numbered in one place.

use std::fmt::{Display, Write as _};

use sqlx::any::{Any, AnyArguments};
use sqlx::error::BoxDynError;
use sqlx::query::Query;
use sqlx::{Arguments, Encode, Type};

use super::{Backend, StoreError};

/// A statement under construction with its bound values; placeholders follow the order of
/// [`push_bind`](Self::push_bind): `$1`, `$2`, … for PostgreSQL, and `?` for SQLite.
///
/// Why `?` on SQLite: a numbered placeholder is a *named* parameter there, and the SQLite driver
/// asks for each parameter's name when it binds, a lookup that walks the statement's list of
/// names. Binding n numbered parameters costs O(n²): with the few thousand values of a
/// multi-row insert that was half of an advisory import's time. Anonymous `?` parameters have
/// no names; each pushed placeholder is bound once, in text order, so `?` means the same.
///
/// Why not `sqlx::QueryBuilder<Any>`: its `push_bind` writes the placeholder its arguments type
/// formats, and `AnyArguments` keeps the default `Arguments::format_placeholder`, which writes
/// `?`. SQLite accepts `?`, PostgreSQL refuses it under the `Any` driver; both accept `$n`. This
/// builder has the same shape and numbers `$n` itself, binding each value through the same
/// `Encode<Any>` as `sqlx::query(…).bind(…)`.
pub(crate) struct SqlBuilder<'args> {
    sql: String,
    /// `?` instead of `$n` (SQLite).
    anonymous: bool,
    args: AnyArguments<'args>,
    bound: usize,
    /// The first value that failed to encode; [`build`](Self::build) reports it.
    error: Option<BoxDynError>,
}

impl<'args> SqlBuilder<'args> {
    /// Start with `sql` (text only: values go through [`push_bind`](Self::push_bind)), for a
    /// statement run on `backend`.
    pub(crate) fn new(backend: Backend, sql: impl Into<String>) -> Self {
        SqlBuilder {
            sql: sql.into(),
            anonymous: backend == Backend::Sqlite,
            args: AnyArguments::default(),
            bound: 0,
            error: None,
        }
    }

    /// Append SQL text. Never a value from input: those are bound.
    pub(crate) fn push(&mut self, sql: impl Display) -> &mut Self {
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Bind `value` and append its placeholder (`$n`, or `?` on SQLite).
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        self.bound += 1;
        if self.anonymous {
            self.sql.push('?');
        } else {
            let _ = write!(self.sql, "${}", self.bound);
        }
        self
    }

    /// Bind each of `values` and append their placeholders separated by `, ` (the inside of an
    /// `IN (…)` list; nothing when `values` is empty).
    pub(crate) fn push_bind_list<I>(&mut self, values: I) -> &mut Self
    where
        I: IntoIterator,
        I::Item: 'args + Encode<'args, Any> + Type<Any>,
    {
        let mut list = self.separated(", ");
        for v in values {
            list.push_bind(v);
        }
        self
    }

    /// A view that puts `separator` between the pieces pushed through it.
    pub(crate) fn separated<'b>(&'b mut self, separator: &'static str) -> Separated<'b, 'args> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// Append `VALUES (…), (…)`: one parenthesised row per item, its columns pushed by
    /// `push_row` through a comma-separated view.
    pub(crate) fn push_values<I, F>(&mut self, rows: I, mut push_row: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'args>, I::Item),
    {
        self.push("VALUES ");
        for (i, row) in rows.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push("(");
            push_row(self.separated(", "), row);
            self.push(")");
        }
        self
    }

    /// The SQL text so far.
    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The statement with its values, ready to run. Build once: the values move into the query.
    pub(crate) fn build<'q>(&'q mut self) -> Result<Query<'q, Any, AnyArguments<'q>>, StoreError>
    where
        'args: 'q,
    {
        if let Some(e) = self.error.take() {
            return Err(StoreError::Db(sqlx::Error::Encode(e)));
        }
        Ok(sqlx::query_with(&self.sql, std::mem::take(&mut self.args)))
    }
}

/// A `LIKE` pattern (bound, with `ESCAPE '\'` in the statement) matching the values that start
/// with `prefix`: `\`, `%` and `_` in it match themselves.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("{escaped}%")
}

/// Pieces pushed through this view are separated by its separator (see
/// [`SqlBuilder::separated`]).
pub(crate) struct Separated<'b, 'args> {
    builder: &'b mut SqlBuilder<'args>,
    separator: &'static str,
    first: bool,
}

impl<'args> Separated<'_, 'args> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.builder.push(self.separator);
        }
    }

    /// Append SQL text, after the separator unless it is the first piece.
    pub(crate) fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.builder.push(sql);
        self
    }

    /// Bind `value` and append its placeholder, after the separator unless it is the first piece.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        self.separate();
        self.builder.push_bind(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let mut b = SqlBuilder::new(Backend::Postgres, "SELECT 1 FROM t WHERE a = ");
        b.push_bind("x").push(" AND b IN (");
        let mut list = b.separated(", ");
        for v in [1_i64, 2, 3] {
            list.push_bind(v);
        }
        b.push(")");
        assert_eq!(b.sql(), "SELECT 1 FROM t WHERE a = $1 AND b IN ($2, $3, $4)");

        let mut b = SqlBuilder::new(Backend::Postgres, "INSERT INTO t (a, b) ");
        b.push_values([("p", 1_i64), ("q", 2)], |mut row, (a, n)| {
            row.push_bind(a).push_bind(n).push("NULL");
        });
        assert_eq!(b.sql(), "INSERT INTO t (a, b) VALUES ($1, $2, NULL), ($3, $4, NULL)");

        let mut b = SqlBuilder::new(Backend::Postgres, "DELETE FROM t WHERE a IN (");
        b.push_bind_list(["p", "q"]).push(") AND b IN (");
        b.push_bind_list(Vec::<i64>::new()).push(") AND c = ").push_bind(3_i64);
        assert_eq!(b.sql(), "DELETE FROM t WHERE a IN ($1, $2) AND b IN () AND c = $3");

        let mut b = SqlBuilder::new(Backend::Postgres, "SELECT ");
        let mut cols = b.separated(" + ");
        cols.push("a").push_bind(Some("y"));
        assert_eq!(b.sql(), "SELECT a + $1");

        // SQLite: anonymous placeholders, bound in the same order.
        let mut b = SqlBuilder::new(Backend::Sqlite, "SELECT 1 FROM t WHERE a = ");
        b.push_bind("x")
            .push(" AND b IN (")
            .push_bind_list([1_i64, 2])
            .push(")");
        assert_eq!(b.sql(), "SELECT 1 FROM t WHERE a = ? AND b IN (?, ?)");
    }

    /// On SQLite; `tests/store_batches.rs` runs the store's built statements on both backends.
    #[tokio::test]
    async fn bound_values_round_trip() {
        use sqlx::Row;
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
            .await
            .unwrap();
        let mut b = SqlBuilder::new(Backend::Sqlite, "SELECT ");
        b.push_bind("it's \"quoted\" $1 ?")
            .push(" AS t, ")
            .push_bind(-7_i64)
            .push(" AS n, ")
            .push_bind(None::<String>)
            .push(" AS z");
        let row = b.build().unwrap().fetch_one(store.pool()).await.unwrap();
        assert_eq!(row.try_get::<String, _>("t").unwrap(), "it's \"quoted\" $1 ?");
        assert_eq!(row.try_get::<i64, _>("n").unwrap(), -7);
        assert_eq!(row.try_get::<Option<String>, _>("z").unwrap(), None);

        // A prefix with LIKE's own characters matches them literally.
        for (value, matches) in [("a_%\\b-c", true), ("a_%\\b", true), ("ax%\\b", false), ("a_%b", false)] {
            let mut b = SqlBuilder::new(Backend::Sqlite, "SELECT CAST(CASE WHEN ");
            b.push_bind(value)
                .push(" LIKE ")
                .push_bind(like_prefix("a_%\\b"))
                .push(" ESCAPE '\\' THEN 1 ELSE 0 END AS BIGINT) AS m");
            let row = b.build().unwrap().fetch_one(store.pool()).await.unwrap();
            assert_eq!(row.try_get::<i64, _>("m").unwrap() == 1, matches, "{value}");
        }
    }
}
