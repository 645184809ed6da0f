//! The scanner sandbox: every scan runs in a child process that cannot take the service down.
//!
//! [`Sandbox`] re-executes the `regscan` binary as `regscan __sandbox-child` ([`child`]) in a
//! process group of its own, with nothing in its environment but `PATH`, `TMPDIR` and `HOME`
//! (its private temporary directory), and only its three pipes open. The child confines itself
//! ([`confine`]: memory and CPU limits, no network, no new privileges, no writes outside its
//! directory), then runs one task — a scan, or a content sniff — with blobs and cache entries
//! asked of the parent over the framed [`protocol`]. The parent's registry client verifies every
//! digest; its store answers the cache. The parent enforces the wall clock, kills the whole group
//! when it passes, and turns every way a child can end into an [`Outcome`]: a result, a scanner
//! error (retried or not as in-process), or a kill that names the limit or signal and is never
//! retried.

pub mod child;
pub mod confine;
pub mod protocol;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use regscan_scanner_api::{BlobSource, Descriptor, ScanCache, ScanError};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, warn};

use protocol::{
    data_frame, message_frame, read_frame, write_frame, Frame, StartRequest, TaskOutput, ToChild, ToParent,
    WireBlobError, WireIoError, CHUNK_BYTES, MAX_CACHE_VALUE_BYTES, PROTOCOL_VERSION, STREAM_CREDITS,
};

pub use protocol::Task;

/// `[sandbox]`: limits of one scan's child process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Address space of one scan (`RLIMIT_AS`), bytes. Default 1 GiB.
    pub memory_bytes: u64,
    /// CPU time of one scan (`RLIMIT_CPU`), seconds. Default 120.
    pub cpu_secs: u64,
    /// Wall-clock time of one scan, enforced by the parent (SIGKILL to the child's process
    /// group), seconds. Default 300. A scanner's own timeout applies when shorter.
    pub wall_secs: u64,
    /// The `regscan` binary that runs scans. Default: the running executable. (Tests of the
    /// library point it at the built binary.)
    pub program: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            memory_bytes: 1 << 30,
            cpu_secs: 120,
            wall_secs: 300,
            program: None,
        }
    }
}

impl SandboxConfig {
    /// Check the limits once, at load.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_bytes < 64 << 20 {
            return Err(format!(
                "[sandbox] memory_bytes = {} is below the 64 MiB a scan needs to start",
                self.memory_bytes
            ));
        }
        if self.cpu_secs == 0 || self.wall_secs == 0 {
            return Err("[sandbox] cpu_secs and wall_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// What one sandboxed task is.
pub struct Request<'a> {
    /// Scan or sniff.
    pub task: Task,
    /// The scanner, by name.
    pub scanner: &'a str,
    /// `registry/repository@digest`.
    pub reference: &'a str,
    /// The manifest.
    pub manifest: &'a regscan_scanner_api::ImageManifest,
    /// The resolved artifact type.
    pub artifact_type: &'a str,
    /// The type table row.
    pub entry: &'a regscan_scanner_api::TypeEntry,
    /// The scanner's own time limit; the sandbox's wall clock applies when shorter.
    pub timeout: Duration,
}

/// Why a sandboxed task was killed or died. Never retried: the same bytes would do the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillCause {
    /// Address space limit.
    Memory,
    /// CPU time limit.
    Cpu,
    /// Wall-clock limit.
    Wall,
    /// A signal (a crash).
    Signal,
    /// Exited without a result.
    Exit,
    /// Broke the protocol.
    Protocol,
}

impl KillCause {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            KillCause::Memory => "memory",
            KillCause::Cpu => "cpu",
            KillCause::Wall => "wall",
            KillCause::Signal => "signal",
            KillCause::Exit => "exit",
            KillCause::Protocol => "protocol",
        }
    }
}

/// How a sandboxed task ended, short of a result.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The scanner returned an error; retrying is decided by it, as in-process.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The child was killed or died: final.
    #[error("{reason}")]
    Killed {
        /// What happened.
        cause: KillCause,
        /// Words for the report ("scanner exceeded the memory limit (1073741824 bytes)").
        reason: String,
    },
    /// The child could not be started (the machine, not the artifact): retryable.
    #[error("could not start the scanner sandbox: {what}: {source}")]
    Start {
        /// What could not be made: the temporary directory, the child process, its pipes.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs tasks in sandboxed children. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    program: PathBuf,
    scanners_config: serde_json::Value,
    child_log: String,
}

/// Most blob streams one child may have open at once.
const MAX_STREAMS: usize = 16;
/// Most bytes of the child's stderr kept for a reason.
const STDERR_TAIL: usize = 2048;

impl Sandbox {
    /// A sandbox running `config`'s program with the `[scanners]` settings `scanners_config`.
    pub fn new(config: &SandboxConfig, scanners_config: serde_json::Value) -> std::io::Result<Self> {
        let program = match &config.program {
            Some(p) => p.clone(),
            None => std::env::current_exe()?,
        };
        let child_log = std::env::var("REGSCAN_SANDBOX_LOG").unwrap_or_else(|_| "warn".into());
        Ok(Sandbox {
            inner: Arc::new(Inner {
                config: config.clone(),
                program,
                scanners_config,
                child_log,
            }),
        })
    }

    /// The limits.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Run one task in a fresh child, serving it `blobs` and `cache`.
    pub async fn run(
        &self,
        req: Request<'_>,
        blobs: &dyn BlobSource,
        cache: &dyn ScanCache,
    ) -> Result<TaskOutput, SandboxError> {
        let cfg = &self.inner.config;
        let tmp = tempfile::Builder::new()
            .prefix("regscan-sandbox-")
            .tempdir()
            .map_err(|source| SandboxError::Start {
                what: "temporary directory".into(),
                source,
            })?;
        let mut cmd = tokio::process::Command::new(&self.inner.program);
        cmd.arg("__sandbox-child")
            .arg("--memory-bytes")
            .arg(cfg.memory_bytes.to_string())
            .arg("--cpu-secs")
            .arg(cfg.cpu_secs.to_string())
            .arg("--tmp")
            .arg(tmp.path())
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TMPDIR", tmp.path())
            .env("HOME", tmp.path())
            .env("MALLOC_ARENA_MAX", "2")
            .env("REGSCAN_LOG", &self.inner.child_log)
            .current_dir(tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| SandboxError::Start {
            what: self.inner.program.display().to_string(),
            source,
        })?;
        let group = GroupKiller {
            pid: child.id().map(|p| Pid::from_raw(p as i32)),
        };
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SandboxError::Start {
                what: "child pipes".into(),
                source: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "missing"),
            });
        };
        let stderr_tail = Arc::new(Mutex::new(Vec::<u8>::new()));
        let stderr_task = tokio::spawn(collect_stderr(stderr, stderr_tail.clone(), req.scanner.to_owned()));

        let wall = Duration::from_secs(cfg.wall_secs).min(req.timeout);
        let deadline = tokio::time::Instant::now() + wall;
        let conversation = tokio::time::timeout_at(deadline, converse(&self.inner, req, stdin, stdout, blobs, cache));
        let (done, violation, timed_out) = match conversation.await {
            Ok(Ok(done)) => (done, None, false),
            Ok(Err(violation)) => (None, Some(violation), false),
            Err(_) => (None, None, true),
        };
        if violation.is_some() || timed_out {
            group.kill();
        }
        // The child has sent its result (or is being killed): give it a moment to exit.
        let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                warn!(error = %e, "waiting for the sandbox child failed");
                None
            }
            Err(_) => {
                group.kill();
                child.wait().await.ok()
            }
        };
        group.kill(); // anything the scanner left behind in its group (a plugin's children)
        let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
        let stderr = String::from_utf8_lossy(&stderr_tail.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        drop(tmp);

        if let Some(result) = done {
            return result.map_err(|e| SandboxError::Scan(e.into()));
        }
        Err(self.killed(status, violation, timed_out, wall, &stderr))
    }

    fn killed(
        &self,
        status: Option<ExitStatus>,
        violation: Option<String>,
        timed_out: bool,
        wall: Duration,
        stderr: &str,
    ) -> SandboxError {
        use std::os::unix::process::ExitStatusExt;
        let cfg = &self.inner.config;
        let tail = stderr.trim();
        let (cause, reason) = if timed_out {
            (
                KillCause::Wall,
                format!("scanner exceeded the wall-clock limit ({} s)", wall.as_secs()),
            )
        } else if let Some(v) = violation {
            (KillCause::Protocol, format!("scanner broke the sandbox protocol: {v}"))
        } else {
            match status.and_then(|s| s.signal()) {
                Some(sig) if sig == Signal::SIGXCPU as i32 => (
                    KillCause::Cpu,
                    format!("scanner exceeded the CPU time limit ({} s)", cfg.cpu_secs),
                ),
                Some(sig) if stderr.contains("memory allocation of") || stderr.contains("out of memory") => {
                    let _ = sig;
                    (
                        KillCause::Memory,
                        format!("scanner exceeded the memory limit ({} bytes)", cfg.memory_bytes),
                    )
                }
                Some(sig) if sig == Signal::SIGKILL as i32 => (
                    KillCause::Cpu,
                    format!(
                        "scanner killed by signal 9 (SIGKILL): the CPU time limit ({} s) or the kernel's memory killer",
                        cfg.cpu_secs
                    ),
                ),
                Some(sig) if stderr.contains("has overflowed its stack") => (
                    KillCause::Memory,
                    format!("scanner overflowed its stack (signal {sig}): input nested too deeply"),
                ),
                Some(sig) => {
                    let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("unknown");
                    (KillCause::Signal, format!("scanner killed by signal {sig} ({name})"))
                }
                None => {
                    let code = status.and_then(|s| s.code());
                    let what = match code {
                        Some(c) => format!("scanner exited with status {c} without a result"),
                        None => "scanner ended without a result".to_owned(),
                    };
                    let reason = if tail.is_empty() {
                        what
                    } else {
                        format!("{what}: {tail}")
                    };
                    (KillCause::Exit, reason)
                }
            }
        };
        SandboxError::Killed { cause, reason }
    }
}

/// Kills the child's whole process group, at the latest when dropped.
struct GroupKiller {
    pid: Option<Pid>,
}

impl GroupKiller {
    fn kill(&self) {
        if let Some(pid) = self.pid {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn collect_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>, scanner: String) {
    let mut reader = BufReader::new(stderr);
    let mut buf = vec![0u8; 8192];
    let mut line = Vec::new();
    let mut forwarded = 0usize;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            t.extend_from_slice(&buf[..n]);
            if t.len() > STDERR_TAIL {
                let cut = t.len() - STDERR_TAIL;
                t.drain(..cut);
            }
        }
        for &b in &buf[..n] {
            if b == b'\n' || line.len() >= 1024 {
                if forwarded < 1000 {
                    debug!(scanner = %scanner, line = %String::from_utf8_lossy(&line), "sandbox child");
                    forwarded += 1;
                }
                line.clear();
            } else {
                line.push(b);
            }
        }
    }
}

type Pending<'a> = FuturesUnordered<BoxFuture<'a, ()>>;

/// Talk to the child until it sends its result and closes its stdout. `Err` is a protocol
/// violation.
async fn converse<'a>(
    inner: &Inner,
    req: Request<'_>,
    mut stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
    blobs: &'a dyn BlobSource,
    cache: &'a dyn ScanCache,
) -> Result<Option<Result<TaskOutput, protocol::WireScanError>>, String> {
    let mut stdout = BufReader::with_capacity(1 << 16, stdout);
    let hello = read_frame::<ToParent, _>(&mut stdout).await;
    match hello {
        Ok(Some(Frame::Message(ToParent::Hello { protocol, confinement }))) => {
            if protocol != PROTOCOL_VERSION {
                return Err(format!("child speaks protocol {protocol}, parent {PROTOCOL_VERSION}"));
            }
            debug!(?confinement, "sandbox child confined");
        }
        Ok(None) => return Ok(None), // died before saying hello: the exit status tells why
        Ok(Some(other)) => return Err(format!("expected hello, got {other:?}")),
        Err(e) => return Err(e.to_string()),
    }
    let start = ToChild::Start(Box::new(StartRequest {
        protocol: PROTOCOL_VERSION,
        task: req.task,
        scanner: req.scanner.to_owned(),
        scanners_config: inner.scanners_config.clone(),
        reference: req.reference.to_owned(),
        manifest: req.manifest.clone(),
        artifact_type: req.artifact_type.to_owned(),
        entry: req.entry.clone(),
    }));
    let frame = message_frame(&start).map_err(|e| e.to_string())?;
    if write_frame(&mut stdin, &frame).await.is_err() {
        return Ok(None);
    }

    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(32);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if write_frame(&mut stdin, &frame).await.is_err() {
                break;
            }
        }
    });
    let _writer = AbortOnDrop(writer);
    // Frames are read by a task of their own: a read cut short by `select!` would lose bytes
    // mid-frame (reading a frame is not cancellation-safe; receiving from a channel is).
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let reader = tokio::spawn(async move {
        loop {
            let frame = read_frame::<ToParent, _>(&mut stdout).await;
            let last = !matches!(frame, Ok(Some(_)));
            if in_tx.send(frame).await.is_err() || last {
                break;
            }
        }
    });
    let _reader = AbortOnDrop(reader);
    let mut streams: HashMap<u32, Arc<Semaphore>> = HashMap::new();
    let mut opened: u32 = 0;
    let mut work: Pending<'a> = FuturesUnordered::new();
    let mut done = None;
    loop {
        tokio::select! {
            frame = in_rx.recv() => {
                let message = match frame {
                    None | Some(Ok(None)) => break,
                    Some(Ok(Some(Frame::Message(m)))) => m,
                    Some(Ok(Some(Frame::Data { .. }))) => return Err("the child sent blob data".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                };
                match message {
                    ToParent::Hello { .. } => return Err("a second hello".into()),
                    ToParent::OpenBlob { stream, descriptor, max_bytes } => {
                        if streams.len() >= MAX_STREAMS || stream <= opened {
                            return Err(format!("stream {stream} opened out of order or over the limit of {MAX_STREAMS}"));
                        }
                        opened = stream;
                        let credits = Arc::new(Semaphore::new(0));
                        streams.insert(stream, credits.clone());
                        work.push(Box::pin(pump(stream, descriptor, max_bytes, blobs, credits, out_tx.clone())));
                    }
                    ToParent::Credit { stream, chunks } => {
                        if let Some(s) = streams.get(&stream) {
                            if s.available_permits() as u64 + u64::from(chunks) > u64::from(STREAM_CREDITS) {
                                return Err(format!("credit over {STREAM_CREDITS} chunks on stream {stream}"));
                            }
                            s.add_permits(chunks as usize);
                        }
                    }
                    ToParent::CloseBlob { stream } => {
                        if let Some(s) = streams.remove(&stream) {
                            s.close();
                        }
                    }
                    ToParent::CacheGet { request, key, version } => {
                        let out = out_tx.clone();
                        work.push(Box::pin(async move {
                            let value = cache.get(&key, &version).await;
                            let value = value.filter(|v| v.to_string().len() <= MAX_CACHE_VALUE_BYTES);
                            if let Ok(frame) = message_frame(&ToChild::CacheValue { request, value }) {
                                let _ = out.send(frame).await;
                            }
                        }));
                    }
                    ToParent::CachePut { key, version, value } => {
                        work.push(Box::pin(async move {
                            if value.to_string().len() <= MAX_CACHE_VALUE_BYTES {
                                cache.put(&key, &version, value).await;
                            } else {
                                warn!(%key, "sandbox cache value over the size limit; not cached");
                            }
                        }));
                    }
                    ToParent::Done { result } => {
                        if done.is_some() {
                            return Err("a second result".into());
                        }
                        done = Some(result);
                    }
                }
            }
            Some(()) = work.next(), if !work.is_empty() => {}
        }
        // Streams that ended are dropped from the table when their pump finishes; closed
        // semaphores of finished streams cost nothing.
        streams.retain(|_, s| !s.is_closed());
    }
    // The child is done; let what it asked for last settle (a cache write must not be lost),
    // with the blob streams stopped.
    for s in streams.values() {
        s.close();
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async { while work.next().await.is_some() {} }).await;
    Ok(done)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serve one blob stream: open it, then send one chunk per credit until the end.
async fn pump(
    stream: u32,
    descriptor: Descriptor,
    max_bytes: u64,
    blobs: &dyn BlobSource,
    credits: Arc<Semaphore>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let send = |m: ToChild| {
        let out = out.clone();
        async move {
            if let Ok(frame) = message_frame(&m) {
                let _ = out.send(frame).await;
            }
        }
    };
    let mut reader = match blobs.open(&descriptor, max_bytes).await {
        Ok(r) => r,
        Err(e) => {
            send(ToChild::BlobOpened {
                stream,
                error: Some(WireBlobError::from(&e)),
            })
            .await;
            credits.close();
            return;
        }
    };
    send(ToChild::BlobOpened { stream, error: None }).await;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        match credits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return, // the child closed the stream
        }
        let mut filled = 0;
        let result = loop {
            match reader.read(&mut buf[filled..]).await {
                Ok(0) => break Ok(filled),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break Ok(filled);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(n) if n > 0 => {
                if out.send(data_frame(stream, &buf[..n])).await.is_err() {
                    return;
                }
                if n < buf.len() {
                    send(ToChild::BlobEnd { stream, error: None }).await;
                    break;
                }
            }
            Ok(_) => {
                send(ToChild::BlobEnd { stream, error: None }).await;
                break;
            }
            Err(e) => {
                send(ToChild::BlobEnd {
                    stream,
                    error: Some(WireIoError::from(&e)),
                })
                .await;
                break;
            }
        }
    }
    credits.close();
}
