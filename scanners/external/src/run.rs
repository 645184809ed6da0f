//! Running the plugin program: a cleared environment, the artifact description on stdin, stdout
//! read up to `max_output_bytes`, the last [`STDERR_TAIL_BYTES`](crate::STDERR_TAIL_BYTES) of
//! stderr kept, and every process of the plugin killed when `timeout_secs` passes, when stdout
//! overflows, when the program exits (strays it left behind) and when the scan is dropped. See
//! [`Group`] for how its processes are grouped inside and outside the scan sandbox.

use std::path::Path;
use std::time::Duration;

use regscan_scanner_api::ScanError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

use rustix::process::{Pid, Signal};

use crate::{ExternalConfig, STDERR_TAIL_BYTES};

/// The variable naming the layout directory.
pub const ARTIFACT_DIR_VAR: &str = "REGSCAN_ARTIFACT_DIR";
/// Variables passed through from regscan's own environment; everything else is cleared.
pub const PASSED_ENV: [&str; 5] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];
/// After the program exits, how long its output pipes may stay open (held by a process that
/// left its process group).
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// How the program ended, with what it printed.
#[derive(Debug)]
pub struct Finished {
    /// Whether it exited 0.
    pub success: bool,
    /// How it ended, in words: "exited with status 1", "was killed by signal 9".
    pub exit: String,
    /// Its stdout (at most `max_output_bytes`).
    pub stdout: Vec<u8>,
    /// The last bytes of its stderr, lossily decoded and trimmed.
    pub stderr_tail: String,
}

/// The processes of one plugin run, and how they are killed.
///
/// - [`Group::Own`]: the plugin leads a process group of its own, killed with `killpg`. Used
///   where this process does not lead its own group (tests, any in-process use).
/// - [`Group::Shared`]: the plugin stays in this process's group, which this process leads: the
///   scan sandbox's child, whose whole group the sandbox kills when the child crashes or runs out
///   of time, so the plugin and whatever it started die with it. Killing "the plugin" here means
///   killing every other member of the group (found in `/proc`), in rounds until none is left;
///   the sandbox child runs one scan, so they are all the plugin's.
#[derive(Debug, Clone, Copy)]
enum Group {
    Own(Option<Pid>),
    Shared { pgid: Pid, me: Pid },
}

impl Group {
    /// How the next plugin is to be started from this process.
    fn for_this_process() -> Group {
        let (me, pgid) = (rustix::process::getpid(), rustix::process::getpgrp());
        if me == pgid {
            Group::Shared { pgid, me }
        } else {
            Group::Own(None)
        }
    }

    fn kill(&self) {
        match *self {
            Group::Own(Some(pid)) => {
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
            }
            Group::Own(None) => {}
            Group::Shared { pgid, me } => {
                for _ in 0..16 {
                    let members = group_members(pgid, me);
                    if members.is_empty() {
                        break;
                    }
                    for pid in members {
                        let _ = rustix::process::kill_process(pid, Signal::KILL);
                    }
                }
            }
        }
    }
}

/// Live processes (not zombies) of process group `pgid`, other than `me`.
fn group_members(pgid: Pid, me: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me.as_raw_nonzero().get())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
            let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
            let state = fields.next()?;
            let pgrp: i32 = fields.nth(1)?.parse().ok()?;
            (pgrp == pgid.as_raw_nonzero().get() && state != "Z" && state != "X").then(|| Pid::from_raw(pid))?
        })
        .collect()
}

/// Kills the plugin's processes when dropped (scan cancelled or finished).
struct GroupKiller(Group);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// Run `config.command` on the layout in `layout`, with `scratch` as working directory and
/// `TMPDIR`, writing `input` to its stdin.
pub async fn run(
    config: &ExternalConfig,
    layout: &Path,
    scratch: &Path,
    input: Vec<u8>,
) -> Result<Finished, ScanError> {
    let name = &config.name;
    let program = &config.command[0];
    let mut cmd = Command::new(program);
    cmd.args(&config.command[1..])
        .env_clear()
        .envs(PASSED_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (*k, v))))
        .env("TMPDIR", scratch)
        .envs(&config.env)
        .env(ARTIFACT_DIR_VAR, layout)
        .current_dir(scratch)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let group = Group::for_this_process();
    if let Group::Own(_) = group {
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ScanError::Internal(format!("external scanner {name}: cannot start {program:?}: {e}")))?;
    let mut killer = GroupKiller(match group {
        Group::Own(_) => Group::Own(child.id().and_then(|id| i32::try_from(id).ok()).and_then(Pid::from_raw)),
        shared => shared,
    });
    let deadline = Instant::now() + Duration::from_secs(config.timeout_secs);

    let mut stdin = child.stdin.take();
    let stdin_task = tokio::spawn(async move {
        if let Some(s) = stdin.as_mut() {
            // A plugin that does not read its stdin closes the pipe: not an error.
            let _ = s.write_all(&input).await;
            let _ = s.shutdown().await;
        }
        drop(stdin);
    });
    let stdout = child.stdout.take();
    let max_out = config.max_output_bytes;
    let group = killer.0;
    let stdout_task = tokio::spawn(async move {
        let Some(out) = stdout else {
            return Ok((Vec::new(), false));
        };
        let res = read_bounded(out, max_out).await;
        if matches!(res, Ok((_, true))) {
            // Over the limit: stop the plugin now rather than let it block on a full pipe.
            group.kill();
        }
        res
    });
    let stderr = child.stderr.take();
    let stderr_task = tokio::spawn(async move {
        match stderr {
            Some(e) => read_tail(e, STDERR_TAIL_BYTES).await,
            None => Vec::new(),
        }
    });

    let status = tokio::time::timeout_at(deadline, child.wait()).await;
    // Whatever happened, nothing of the plugin may outlive this point.
    killer.0.kill();
    let stderr_tail = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_owned();
    let status = match status {
        Err(_) => {
            let _ = child.wait().await;
            killer.0 = Group::Own(None);
            let tail = tokio::time::timeout(DRAIN_GRACE, stderr_task)
                .await
                .ok()
                .and_then(Result::ok)
                .map(stderr_tail)
                .unwrap_or_default();
            return Err(ScanError::Limit(format!(
                "external scanner {name} did not finish within its timeout_secs ({} s) and was killed; stderr: {tail}",
                config.timeout_secs
            )));
        }
        Ok(Err(e)) => return Err(ScanError::Internal(format!("waiting for external scanner {name}: {e}"))),
        Ok(Ok(status)) => status,
    };
    // Reaped and its processes killed: the id is no longer ours to signal.
    killer.0 = Group::Own(None);
    stdin_task.abort();
    let drained = tokio::time::timeout(DRAIN_GRACE, async {
        let out = stdout_task.await;
        let err = stderr_task.await;
        (out, err)
    })
    .await;
    let Ok((out, err)) = drained else {
        return Err(ScanError::Invalid(format!(
            "external scanner {name} exited but left a process holding its output open"
        )));
    };
    let tail = stderr_tail(err.unwrap_or_default());
    let (stdout, overflow) = match out {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return Err(ScanError::Internal(format!(
                "reading external scanner {name}'s output: {e}"
            )))
        }
        Err(e) => {
            return Err(ScanError::Internal(format!(
                "reading external scanner {name}'s output: {e}"
            )))
        }
    };
    if overflow {
        return Err(ScanError::Limit(format!(
            "external scanner {name} printed more than its max_output_bytes ({max_out}) on stdout; stderr: {tail}"
        )));
    }
    Ok(Finished {
        success: status.success(),
        exit: describe(status),
        stdout,
        stderr_tail: tail,
    })
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        (None, None) => "ended abnormally".into(),
    }
}

/// Read at most `max` bytes; `true` when there was more.
async fn read_bounded(r: impl AsyncRead + Unpin, max: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1)).read_to_end(&mut buf).await?;
    let over = buf.len() as u64 > max;
    if over {
        buf.truncate(max as usize);
    }
    Ok((buf, over))
}

/// Read to the end, keeping only the last `keep` bytes.
async fn read_tail(mut r: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    let mut tail: Vec<u8> = Vec::with_capacity(keep * 2);
    let mut chunk = vec![0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > keep * 2 {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stderr_keeps_the_last_bytes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let tail = read_tail(&data[..], 2048).await;
        assert_eq!(tail, &data[data.len() - 2048..]);
        let short = read_tail(&b"oops"[..], 2048).await;
        assert_eq!(short, b"oops");
    }

    #[tokio::test]
    async fn stdout_is_bounded() {
        let (v, over) = read_bounded(&b"0123456789"[..], 4).await.unwrap();
        assert_eq!((v.as_slice(), over), (&b"0123"[..], true));
        let (v, over) = read_bounded(&b"0123"[..], 4).await.unwrap();
        assert_eq!((v.as_slice(), over), (&b"0123"[..], false));
    }
}
