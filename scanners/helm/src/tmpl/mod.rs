//! A Go `text/template` engine with the Sprig and Helm functions charts use.
//!
//! There is no Helm in Rust, so this module renders chart templates the way `helm template`
//! does: [`parse`] (over the private `lex` layer) reads the syntax, [`exec`] runs it against a
//! [`Value`], [`funcs`] and [`funcs_coll`] hold the function library, [`format`] and [`yaml`]
//! produce Go-identical text, [`semver`] implements Masterminds constraints.

pub mod budget;
pub mod exec;
pub mod files;
pub mod format;
pub mod funcs;
pub mod funcs_coll;
pub mod funcs_crypto;
pub mod funcs_misc;
mod lex;
pub mod parse;
pub mod re2;
pub mod semver;
pub mod value;
pub mod yaml;

pub use exec::{ExecError, ExecLimits, TemplateSet};
pub use value::{Files, MapRef, Value};

/// Stack size of the thread that renders: deep `include` nesting and nested expressions recurse.
pub const RENDER_STACK_BYTES: usize = 256 << 20;

/// Run `f` on a thread with a [`RENDER_STACK_BYTES`] stack (address space only; pages are
/// committed as used), so that every nesting the limits allow fits. Fails only when no thread
/// can be started.
pub fn with_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("regscan-helm-render".into())
            .stack_size(RENDER_STACK_BYTES)
            .spawn_scoped(s, f)?;
        Ok(handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}
