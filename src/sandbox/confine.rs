//! What the sandbox child does to itself before it reads a byte of artifact content: resource
//! limits, death with its parent, no network, no new privileges, no writes outside its
//! temporary directory.
//!
//! It runs on the child's main thread before any other thread exists, so every thread (and every
//! process, such as an external plugin) started later inherits it. The layers, in order:
//!
//! 1. `PR_SET_PDEATHSIG` (SIGKILL): the child dies with the parent.
//! 2. `RLIMIT_AS` (memory), `RLIMIT_CPU` (soft at the limit: SIGXCPU; hard one second later:
//!    SIGKILL), `RLIMIT_CORE` 0 and `RLIMIT_NOFILE`.
//! 3. A network namespace of its own (`unshare(CLONE_NEWNET)`, as root; otherwise together with
//!    a user namespace), where the kernel allows it.
//! 4. `PR_SET_NO_NEW_PRIVS`.
//! 5. Landlock, where the kernel has it: the file system is read-only but for the private
//!    temporary directory and `/dev/null`.
//! 6. A seccomp filter, always: `socket()` fails with EPERM (so no network even where no
//!    namespace could be made), and so do `ptrace`, `process_vm_*`, `bpf`, `perf_event_open`,
//!    `keyctl`, `mount` and friends.

use std::collections::BTreeMap;
use std::path::Path;

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;

use super::protocol::Confinement;

/// Limits applied to the child.
#[derive(Debug, Clone, Copy)]
pub struct ChildLimits {
    /// Address space, bytes.
    pub memory_bytes: u64,
    /// CPU time, seconds.
    pub cpu_secs: u64,
}

/// Why the child could not confine itself. Resource limits and the seccomp filter are required;
/// the namespace and Landlock are applied where the kernel allows and reported otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// A required step failed.
    #[error("sandbox setup: {step}: {source}")]
    Step {
        /// The step.
        step: &'static str,
        /// What failed.
        #[source]
        source: BoxError,
    },
}

/// Errors of the different system interfaces a step uses (nix, seccompiler), kept as sources.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn step<E: Into<BoxError>>(step: &'static str) -> impl FnOnce(E) -> ConfineError {
    move |e| ConfineError::Step { step, source: e.into() }
}

/// Confine the calling process. `parent` is the pid the child expects as its parent: if the
/// parent already died, the child exits instead of running orphaned.
pub fn confine(limits: ChildLimits, tmp: &Path, parent: u32) -> Result<Confinement, ConfineError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(step("PR_SET_PDEATHSIG"))?;
    if nix::unistd::getppid().as_raw() as u32 != parent {
        return Err(step("parent check")("the parent process has already exited"));
    }
    setrlimit(Resource::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes).map_err(step("RLIMIT_AS"))?;
    setrlimit(Resource::RLIMIT_CPU, limits.cpu_secs, limits.cpu_secs + 1).map_err(step("RLIMIT_CPU"))?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(step("RLIMIT_CORE"))?;
    setrlimit(Resource::RLIMIT_NOFILE, 256, 256).map_err(step("RLIMIT_NOFILE"))?;

    let mut c = Confinement::default();
    c.network_namespace = match unshare_network() {
        Ok(()) => true,
        Err(e) => {
            c.notes.push(format!(
                "no network namespace ({e}); the seccomp filter still refuses sockets"
            ));
            false
        }
    };
    nix::sys::prctl::set_no_new_privs().map_err(step("PR_SET_NO_NEW_PRIVS"))?;
    c.landlock = match landlock_writes(tmp) {
        Ok(true) => true,
        Ok(false) => {
            c.notes
                .push("Landlock is not available in this kernel; file writes are not restricted".into());
            false
        }
        Err(e) => {
            c.notes.push(format!("Landlock could not be applied: {e}"));
            false
        }
    };
    seccomp().map_err(step("seccomp"))?;
    c.seccomp = true;
    Ok(c)
}

fn unshare_network() -> nix::Result<()> {
    use nix::sched::{unshare, CloneFlags};
    match unshare(CloneFlags::CLONE_NEWNET) {
        Ok(()) => Ok(()),
        // Unprivileged: a user namespace first grants the capability inside it.
        Err(_) => unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET),
    }
}

fn landlock_writes(tmp: &Path) -> Result<bool, landlock::RulesetError> {
    use landlock::{
        path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, ABI,
    };
    let abi = ABI::V3;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))?
        .add_rules(path_beneath_rules(
            [tmp, Path::new("/dev/null")],
            AccessFs::from_all(abi),
        ))?
        .restrict_self()?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}

/// System calls the child (and any program it runs) is refused, with EPERM.
const DENIED: &[(&str, i64)] = &[
    ("socket", libc::SYS_socket),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("setns", libc::SYS_setns),
    ("unshare", libc::SYS_unshare),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
];

fn seccomp() -> Result<(), BoxError> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = DENIED.iter().map(|(_, nr)| (*nr, vec![])).collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    let program: BpfProgram = filter.try_into()?;
    Ok(seccompiler::apply_filter(&program)?)
}
