//! The parent ↔ child protocol of the scanner sandbox.
//!
//! The child's stdin carries frames from the parent, its stdout frames to the parent. A frame is
//! a 4-byte big-endian body length, then the body: one tag byte, then either a JSON message
//! ([`TAG_MESSAGE`]) or, parent → child only, blob bytes ([`TAG_DATA`]: a 4-byte stream id and up
//! to [`CHUNK_BYTES`] of data). Bodies over [`MAX_FRAME_BYTES`] are a protocol error; so is
//! anything the reader does not expect. The first message each way names
//! [`PROTOCOL_VERSION`]; a mismatch ends the run.
//!
//! Blobs stream with credit-based flow control: the child opens a stream and grants credits,
//! one per chunk it is ready to take; the parent sends at most that many chunks ahead. Neither
//! side ever buffers more than [`STREAM_CREDITS`] chunks of a stream.

use std::io;

use regscan_scanner_api::{BlobError, Descriptor, ImageManifest, ScanError, ScanOutput, TypeEntry};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Version of this protocol; both sides must agree.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame body either side accepts (a manifest and a scan's output fit well within it).
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// Blob bytes per data frame.
pub const CHUNK_BYTES: usize = 256 << 10;

/// Chunks of one blob stream in flight at most.
pub const STREAM_CREDITS: u32 = 4;

/// Largest cache value a child may store through its parent; bigger ones are dropped (a cache
/// miss costs time, never correctness).
pub const MAX_CACHE_VALUE_BYTES: usize = 16 << 20;

/// Frame tag of a JSON message.
pub const TAG_MESSAGE: u8 = 1;
/// Frame tag of blob data.
pub const TAG_DATA: u8 = 2;

/// What the child is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Scan the manifest with the scanner.
    Scan,
    /// Ask the scanner whether `layer` makes the artifact its own ([`regscan_scanner_api::Scanner::sniff`]).
    Sniff {
        /// The layer to look into (boxed: a descriptor is large beside `Scan`).
        layer: Box<Descriptor>,
    },
}

/// The job handed to the child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRequest {
    /// Protocol version of the parent.
    pub protocol: u32,
    /// What to do.
    pub task: Task,
    /// The scanner to run, by name.
    pub scanner: String,
    /// The `[scanners]` configuration, from which the child builds its scanners.
    pub scanners_config: serde_json::Value,
    /// `registry/repository@digest`, for messages.
    pub reference: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The resolved artifact type.
    pub artifact_type: String,
    /// The type table row.
    pub entry: TypeEntry,
}

/// How the child confined itself, reported in its first message (for logs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// In a network namespace of its own (no interfaces but a down loopback).
    pub network_namespace: bool,
    /// The seccomp filter refusing `socket()` is installed.
    pub seccomp: bool,
    /// Landlock restricts writes to the private temporary directory.
    pub landlock: bool,
    /// Why a layer could not be applied, if one could not.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Parent → child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToChild {
    /// The job (first message).
    Start(Box<StartRequest>),
    /// Answer to [`ToParent::OpenBlob`]; data frames follow when it succeeded.
    BlobOpened {
        /// Stream id chosen by the child.
        stream: u32,
        /// Why the blob could not be opened.
        error: Option<WireBlobError>,
    },
    /// The end of a stream: all data sent, or the read failed midway.
    BlobEnd {
        /// Stream id.
        stream: u32,
        /// Why reading failed.
        error: Option<WireIoError>,
    },
    /// Answer to [`ToParent::CacheGet`].
    CacheValue {
        /// Request id chosen by the child.
        request: u32,
        /// The cached value.
        value: Option<serde_json::Value>,
    },
}

/// Child → parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToParent {
    /// First message, sent once the child has confined itself.
    Hello {
        /// Protocol version of the child.
        protocol: u32,
        /// What confinement applies.
        confinement: Confinement,
    },
    /// Open a blob as stream `stream` (ids are the child's, never reused in one run).
    OpenBlob {
        /// Stream id.
        stream: u32,
        /// The blob.
        descriptor: Descriptor,
        /// Size limit.
        max_bytes: u64,
    },
    /// The child can take `chunks` more data frames of `stream`.
    Credit {
        /// Stream id.
        stream: u32,
        /// Chunks.
        chunks: u32,
    },
    /// The child stopped reading `stream`.
    CloseBlob {
        /// Stream id.
        stream: u32,
    },
    /// Read a cache entry.
    CacheGet {
        /// Request id.
        request: u32,
        /// Key.
        key: String,
        /// Analyzer version.
        version: String,
    },
    /// Store a cache entry.
    CachePut {
        /// Key.
        key: String,
        /// Analyzer version.
        version: String,
        /// Value.
        value: serde_json::Value,
    },
    /// The result (last message).
    Done {
        /// The task's outcome.
        result: Result<TaskOutput, WireScanError>,
    },
}

/// What a task produced.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutput {
    /// A scan's output.
    Scanned(Box<ScanOutput>),
    /// A sniff's verdict.
    Sniffed(bool),
}

/// An I/O error crossing the pipe: its kind (decides retrying) and message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireIoError {
    /// `invalid_data`, `unexpected_eof` or `other`.
    pub kind: String,
    /// The message.
    pub message: String,
}

impl From<&io::Error> for WireIoError {
    fn from(e: &io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::InvalidData => "invalid_data",
            io::ErrorKind::UnexpectedEof => "unexpected_eof",
            _ => "other",
        };
        WireIoError {
            kind: kind.into(),
            message: e.to_string(),
        }
    }
}

impl From<WireIoError> for io::Error {
    fn from(e: WireIoError) -> Self {
        let kind = match e.kind.as_str() {
            "invalid_data" => io::ErrorKind::InvalidData,
            "unexpected_eof" => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.message)
    }
}

/// [`BlobError`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireBlobError {
    /// [`BlobError::TooLarge`].
    TooLarge {
        /// Digest.
        digest: String,
        /// Size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// [`BlobError::Fetch`].
    Fetch {
        /// Digest.
        digest: String,
        /// Message.
        message: String,
        /// Retryable.
        retryable: bool,
    },
}

impl From<&BlobError> for WireBlobError {
    fn from(e: &BlobError) -> Self {
        match e {
            BlobError::TooLarge { digest, size, limit } => WireBlobError::TooLarge {
                digest: digest.clone(),
                size: *size,
                limit: *limit,
            },
            BlobError::Fetch {
                digest,
                message,
                retryable,
            } => WireBlobError::Fetch {
                digest: digest.clone(),
                message: message.clone(),
                retryable: *retryable,
            },
        }
    }
}

impl From<WireBlobError> for BlobError {
    fn from(e: WireBlobError) -> Self {
        match e {
            WireBlobError::TooLarge { digest, size, limit } => BlobError::TooLarge { digest, size, limit },
            WireBlobError::Fetch {
                digest,
                message,
                retryable,
            } => BlobError::Fetch {
                digest,
                message,
                retryable,
            },
        }
    }
}

/// [`ScanError`] on the wire, every variant kept so retrying is decided as in-process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireScanError {
    /// [`ScanError::Blob`].
    Blob {
        /// The blob error.
        error: WireBlobError,
    },
    /// [`ScanError::Io`].
    Io {
        /// What was read.
        what: String,
        /// The error.
        error: WireIoError,
    },
    /// [`ScanError::Invalid`].
    Invalid {
        /// Message.
        message: String,
    },
    /// [`ScanError::Limit`].
    Limit {
        /// Message.
        message: String,
    },
    /// [`ScanError::Timeout`].
    Timeout {
        /// Milliseconds.
        millis: u64,
    },
    /// [`ScanError::Internal`].
    Internal {
        /// Message.
        message: String,
    },
}

impl From<&ScanError> for WireScanError {
    fn from(e: &ScanError) -> Self {
        match e {
            ScanError::Blob(b) => WireScanError::Blob { error: b.into() },
            ScanError::Io { what, source } => WireScanError::Io {
                what: what.clone(),
                error: source.into(),
            },
            ScanError::Invalid(m) => WireScanError::Invalid { message: m.clone() },
            ScanError::Limit(m) => WireScanError::Limit { message: m.clone() },
            ScanError::Timeout(d) => WireScanError::Timeout {
                millis: d.as_millis().try_into().unwrap_or(u64::MAX),
            },
            ScanError::Internal(m) => WireScanError::Internal { message: m.clone() },
        }
    }
}

impl From<WireScanError> for ScanError {
    fn from(e: WireScanError) -> Self {
        match e {
            WireScanError::Blob { error } => ScanError::Blob(error.into()),
            WireScanError::Io { what, error } => ScanError::Io {
                what,
                source: error.into(),
            },
            WireScanError::Invalid { message } => ScanError::Invalid(message),
            WireScanError::Limit { message } => ScanError::Limit(message),
            WireScanError::Timeout { millis } => ScanError::Timeout(std::time::Duration::from_millis(millis)),
            WireScanError::Internal { message } => ScanError::Internal(message),
        }
    }
}

/// A frame as read.
#[derive(Debug)]
pub enum Frame<M> {
    /// A JSON message.
    Message(M),
    /// Blob data for a stream.
    Data {
        /// Stream id.
        stream: u32,
        /// The bytes.
        bytes: bytes::Bytes,
    },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The pipe failed or closed mid-frame.
    #[error("sandbox pipe: {0}")]
    Io(#[from] io::Error),
    /// The other side broke the protocol.
    #[error("sandbox protocol violation: {0}")]
    Violation(String),
}

/// Read one frame; `Ok(None)` at a clean end of stream (between frames).
pub async fn read_frame<M, R>(reader: &mut R) -> Result<Option<Frame<M>>, ProtocolError>
where
    M: serde::de::DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME_BYTES {
        return Err(ProtocolError::Violation(format!(
            "frame of {len} bytes (limit {MAX_FRAME_BYTES})"
        )));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    match body[0] {
        TAG_MESSAGE => serde_json::from_slice(&body[1..])
            .map(|m| Some(Frame::Message(m)))
            .map_err(|e| ProtocolError::Violation(format!("unreadable message: {e}"))),
        TAG_DATA if len >= 5 && len - 5 <= CHUNK_BYTES => {
            let stream = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
            let bytes = bytes::Bytes::from(body).slice(5..);
            Ok(Some(Frame::Data { stream, bytes }))
        }
        tag => Err(ProtocolError::Violation(format!(
            "frame with tag {tag} and {len} bytes"
        ))),
    }
}

/// Encode a JSON message as a frame.
pub fn message_frame<M: Serialize>(message: &M) -> Result<Vec<u8>, ProtocolError> {
    let mut body = vec![0u8; 5];
    body[4] = TAG_MESSAGE;
    serde_json::to_writer(&mut body, message).map_err(|e| ProtocolError::Violation(format!("encoding: {e}")))?;
    let len = body.len() - 4;
    if len > MAX_FRAME_BYTES {
        return Err(ProtocolError::Violation(format!(
            "message of {len} bytes is over the {MAX_FRAME_BYTES}-byte frame limit"
        )));
    }
    body[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(body)
}

/// Encode blob data as a frame (`bytes` at most [`CHUNK_BYTES`]).
pub fn data_frame(stream: u32, bytes: &[u8]) -> Vec<u8> {
    debug_assert!(bytes.len() <= CHUNK_BYTES);
    let len = 5 + bytes.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.push(TAG_DATA);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(bytes);
    frame
}

/// Write a whole frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_frames_are_refused() {
        let mut buf = message_frame(&ToParent::Credit { stream: 7, chunks: 2 }).unwrap();
        buf.extend(data_frame(3, b"hello"));
        let mut r = &buf[..];
        match read_frame::<ToParent, _>(&mut r).await.unwrap() {
            Some(Frame::Message(ToParent::Credit { stream: 7, chunks: 2 })) => {}
            other => panic!("{other:?}"),
        }
        match read_frame::<ToParent, _>(&mut r).await.unwrap() {
            Some(Frame::Data { stream: 3, bytes }) => assert_eq!(&bytes[..], b"hello"),
            other => panic!("{other:?}"),
        }
        assert!(read_frame::<ToParent, _>(&mut r).await.unwrap().is_none());

        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
        let err = read_frame::<ToParent, _>(&mut &huge[..]).await.unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        let garbage = [0, 0, 0, 3, TAG_MESSAGE, b'{', b'x'];
        assert!(matches!(
            read_frame::<ToParent, _>(&mut &garbage[..]).await,
            Err(ProtocolError::Violation(_))
        ));
        let truncated = [0, 0, 0, 9, TAG_MESSAGE];
        assert!(matches!(
            read_frame::<ToParent, _>(&mut &truncated[..]).await,
            Err(ProtocolError::Io(_))
        ));
    }

    #[test]
    fn scan_errors_keep_their_variant_and_retry_decision_across_the_pipe() {
        let cases = [
            ScanError::Invalid("bad chart".into()),
            ScanError::Limit("too many files".into()),
            ScanError::Blob(BlobError::Fetch {
                digest: "sha256:ab".into(),
                message: "connection reset".into(),
                retryable: true,
            }),
            ScanError::io("layer", io::Error::new(io::ErrorKind::InvalidData, "digest mismatch")),
            ScanError::io("layer", io::Error::other("reset")),
        ];
        for e in cases {
            let back: ScanError =
                serde_json::from_str::<WireScanError>(&serde_json::to_string(&WireScanError::from(&e)).unwrap())
                    .unwrap()
                    .into();
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(back.is_retryable(), e.is_retryable(), "{e}");
        }
    }
}
