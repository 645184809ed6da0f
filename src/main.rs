//! The `regscan` binary: see `regscan --help` and [`regscan::cli`].
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    regscan::cli::main()
}
