//! The sandbox child: `regscan __sandbox-child`, started by [`super::Sandbox`] for one scan.
//!
//! It confines itself ([`super::confine`]), says hello, takes its [`StartRequest`] from stdin,
//! builds the scanners from the configuration it was handed, runs the one task with blobs and
//! cache entries asked of the parent, sends the result and exits. It has no registry client, no
//! database and no credentials: everything it reads comes through the pipe.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::FutureExt;
use regscan_scanner_api::{BlobError, BlobReader, BlobSource, Descriptor, ScanCache, ScanContext, ScanError};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use super::confine::{confine, ChildLimits};
use super::protocol::{
    message_frame, read_frame, write_frame, Frame, StartRequest, Task, TaskOutput, ToChild, ToParent, WireScanError,
    MAX_CACHE_VALUE_BYTES, PROTOCOL_VERSION, STREAM_CREDITS,
};
use crate::config::{Config, ScannersConfig};

/// Arguments of the internal `__sandbox-child` command (set by the parent, not by people).
#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    /// Address space limit, bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// CPU time limit, seconds.
    #[arg(long)]
    pub cpu_secs: u64,
    /// The private temporary directory (the only writable place).
    #[arg(long)]
    pub tmp: PathBuf,
    /// The parent's pid.
    #[arg(long)]
    pub parent_pid: u32,
}

/// Entry point: confine, then run the task on a single-threaded runtime (plus at most two
/// threads for blocking parsing).
pub fn main(args: ChildArgs) -> ExitCode {
    let confinement = match confine(
        ChildLimits {
            memory_bytes: args.memory_bytes,
            cpu_secs: args.cpu_secs,
        },
        &args.tmp,
        args.parent_pid,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("regscan sandbox: {e}");
            return ExitCode::from(70);
        }
    };
    crate::telemetry::init_logging(&crate::config::LogConfig {
        filter: std::env::var("REGSCAN_LOG").unwrap_or_else(|_| "warn".into()),
        format: crate::config::LogFormat::Text,
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("regscan sandbox: cannot start the runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(run(confinement)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("regscan sandbox: {e}");
            ExitCode::from(70)
        }
    }
}

/// Shared between the task and the frame reader.
#[derive(Default)]
struct Pending {
    opens: HashMap<u32, oneshot::Sender<Option<BlobError>>>,
    streams: HashMap<u32, mpsc::Sender<std::io::Result<bytes::Bytes>>>,
    cache: HashMap<u32, oneshot::Sender<Option<serde_json::Value>>>,
    next_id: u32,
}

type Shared = Arc<Mutex<Pending>>;

fn lock(p: &Shared) -> std::sync::MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run(confinement: super::protocol::Confinement) -> anyhow::Result<()> {
    let stdin = pipe::Receiver::from_owned_fd(std::io::stdin().as_fd().try_clone_to_owned()?)?;
    let mut stdout = pipe::Sender::from_owned_fd(std::io::stdout().as_fd().try_clone_to_owned()?)?;
    let mut stdin = tokio::io::BufReader::with_capacity(1 << 20, stdin);

    write_frame(
        &mut stdout,
        &message_frame(&ToParent::Hello {
            protocol: PROTOCOL_VERSION,
            confinement,
        })?,
    )
    .await?;
    let start = match read_frame::<ToChild, _>(&mut stdin).await? {
        Some(Frame::Message(ToChild::Start(start))) => start,
        other => anyhow::bail!("expected the start message, got {other:?}"),
    };
    if start.protocol != PROTOCOL_VERSION {
        anyhow::bail!(
            "protocol version {} from the parent, this child speaks {PROTOCOL_VERSION}",
            start.protocol
        );
    }

    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if write_frame(&mut stdout, &frame).await.is_err() {
                break;
            }
        }
    });
    let pending: Shared = Arc::default();
    let reader = tokio::spawn(demux(stdin, pending.clone()));

    let result = execute(&start, &pending, &out_tx).await;
    let done = ToParent::Done {
        result: result.map_err(|e| WireScanError::from(&e)),
    };
    out_tx.send(message_frame(&done)?).await.ok();
    drop(out_tx);
    reader.abort();
    writer.await.ok();
    Ok(())
}

/// Dispatch frames from the parent to whoever waits for them. Ends the process on a protocol
/// violation: a child that cannot trust its pipe has nothing left to do.
async fn demux<R: tokio::io::AsyncRead + Unpin>(mut stdin: R, pending: Shared) {
    loop {
        let frame = match read_frame::<ToChild, _>(&mut stdin).await {
            Ok(Some(f)) => f,
            Ok(None) => {
                // The parent closed the pipe: nothing more will come. Wake everyone waiting.
                let mut p = lock(&pending);
                p.opens.clear();
                p.streams.clear();
                p.cache.clear();
                return;
            }
            Err(e) => {
                eprintln!("regscan sandbox: {e}");
                std::process::exit(71);
            }
        };
        let mut p = lock(&pending);
        match frame {
            Frame::Data { stream, bytes } => {
                if let Some(tx) = p.streams.get(&stream) {
                    // The parent sends no more chunks than credited, so this never fills.
                    if tx.try_send(Ok(bytes)).is_err() && !tx.is_closed() {
                        eprintln!("regscan sandbox: parent sent more data than credited on stream {stream}");
                        std::process::exit(71);
                    }
                }
            }
            Frame::Message(ToChild::BlobOpened { stream, error }) => {
                if let Some(tx) = p.opens.remove(&stream) {
                    if error.is_some() {
                        p.streams.remove(&stream);
                    }
                    let _ = tx.send(error.map(Into::into));
                }
            }
            Frame::Message(ToChild::BlobEnd { stream, error }) => {
                if let Some(tx) = p.streams.remove(&stream) {
                    if let Some(e) = error {
                        let _ = tx.try_send(Err(e.into()));
                    }
                }
            }
            Frame::Message(ToChild::CacheValue { request, value }) => {
                if let Some(tx) = p.cache.remove(&request) {
                    let _ = tx.send(value);
                }
            }
            Frame::Message(ToChild::Start(_)) => {
                eprintln!("regscan sandbox: a second start message");
                std::process::exit(71);
            }
        }
    }
}

async fn execute(start: &StartRequest, pending: &Shared, out: &mpsc::Sender<Vec<u8>>) -> Result<TaskOutput, ScanError> {
    let scanners_config: ScannersConfig = serde_json::from_value(start.scanners_config.clone())
        .map_err(|e| ScanError::Internal(format!("sandbox: unreadable scanner configuration: {e}")))?;
    let config = Config {
        scanners: scanners_config,
        ..Config::default()
    };
    let scanners = crate::scanners::registered(&config).map_err(|e| ScanError::Internal(format!("{e:#}")))?;
    let scanner = scanners
        .iter()
        .find(|s| s.name() == start.scanner)
        .ok_or_else(|| ScanError::Internal(format!("sandbox: no scanner named {:?}", start.scanner)))?;
    let blobs = RemoteBlobs {
        pending: pending.clone(),
        out: out.clone(),
    };
    let cache = RemoteCache {
        pending: pending.clone(),
        out: out.clone(),
    };
    let ctx = ScanContext {
        reference: &start.reference,
        manifest: &start.manifest,
        artifact_type: &start.artifact_type,
        entry: &start.entry,
        blobs: &blobs,
        cache: &cache,
    };
    let work = async {
        match &start.task {
            Task::Scan => scanner.scan(&ctx).await.map(|o| TaskOutput::Scanned(Box::new(o))),
            Task::Sniff { layer } => scanner.sniff(&ctx, layer).await.map(TaskOutput::Sniffed),
        }
    };
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(crate::scan::scanner_crashed(&start.scanner, panic)),
    }
}

/// Blobs asked of the parent, streamed with credits.
struct RemoteBlobs {
    pending: Shared,
    out: mpsc::Sender<Vec<u8>>,
}

fn parent_gone(digest: &str) -> BlobError {
    BlobError::Fetch {
        digest: digest.to_owned(),
        message: "the sandbox parent closed the pipe".into(),
        retryable: true,
    }
}

async fn send(out: &mpsc::Sender<Vec<u8>>, message: &ToParent) -> bool {
    match message_frame(message) {
        Ok(frame) => out.send(frame).await.is_ok(),
        Err(_) => false,
    }
}

#[async_trait]
impl BlobSource for RemoteBlobs {
    async fn open(&self, descriptor: &Descriptor, max_bytes: u64) -> Result<BlobReader, BlobError> {
        if descriptor.size > max_bytes {
            return Err(BlobError::TooLarge {
                digest: descriptor.digest.clone(),
                size: descriptor.size,
                limit: max_bytes,
            });
        }
        let (opened_tx, opened_rx) = oneshot::channel();
        let (data_tx, data_rx) = mpsc::channel(STREAM_CREDITS as usize + 1);
        let stream = {
            let mut p = lock(&self.pending);
            p.next_id += 1;
            let id = p.next_id;
            p.opens.insert(id, opened_tx);
            p.streams.insert(id, data_tx);
            id
        };
        let open = ToParent::OpenBlob {
            stream,
            descriptor: descriptor.clone(),
            max_bytes,
        };
        if !send(&self.out, &open).await {
            return Err(parent_gone(&descriptor.digest));
        }
        match opened_rx.await {
            Ok(None) => {}
            Ok(Some(e)) => return Err(e),
            Err(_) => return Err(parent_gone(&descriptor.digest)),
        }
        if !send(
            &self.out,
            &ToParent::Credit {
                stream,
                chunks: STREAM_CREDITS,
            },
        )
        .await
        {
            return Err(parent_gone(&descriptor.digest));
        }
        let state = StreamState {
            data: data_rx,
            out: self.out.clone(),
            stream,
        };
        let chunks = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.data.recv().await?;
            if item.is_ok() {
                if let Ok(frame) = message_frame(&ToParent::Credit {
                    stream: s.stream,
                    chunks: 1,
                }) {
                    let _ = s.out.send(frame).await;
                }
            }
            Some((item, s))
        });
        Ok(Box::pin(tokio_util::io::StreamReader::new(Box::pin(chunks))))
    }
}

/// One open stream; tells the parent when the reader is dropped so it stops sending.
struct StreamState {
    data: mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    out: mpsc::Sender<Vec<u8>>,
    stream: u32,
}

impl Drop for StreamState {
    fn drop(&mut self) {
        if let Ok(frame) = message_frame(&ToParent::CloseBlob { stream: self.stream }) {
            let _ = self.out.try_send(frame);
        }
    }
}

/// Cache entries asked of the parent.
struct RemoteCache {
    pending: Shared,
    out: mpsc::Sender<Vec<u8>>,
}

#[async_trait]
impl ScanCache for RemoteCache {
    async fn get(&self, key: &str, analyzer_version: &str) -> Option<serde_json::Value> {
        let (tx, rx) = oneshot::channel();
        let request = {
            let mut p = lock(&self.pending);
            p.next_id += 1;
            let id = p.next_id;
            p.cache.insert(id, tx);
            id
        };
        let get = ToParent::CacheGet {
            request,
            key: key.to_owned(),
            version: analyzer_version.to_owned(),
        };
        if !send(&self.out, &get).await {
            return None;
        }
        rx.await.ok().flatten()
    }

    async fn put(&self, key: &str, analyzer_version: &str, value: serde_json::Value) {
        let put = ToParent::CachePut {
            key: key.to_owned(),
            version: analyzer_version.to_owned(),
            value,
        };
        match message_frame(&put) {
            Ok(frame) if frame.len() <= MAX_CACHE_VALUE_BYTES => {
                let _ = self.out.send(frame).await;
            }
            _ => tracing::warn!(key, "cache value over the size limit; not cached"),
        }
    }
}
