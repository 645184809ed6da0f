//! A reader that verifies a blob's digest and size while it streams.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use sha2::{Digest as _, Sha256, Sha512};
use tokio::io::{AsyncRead, ReadBuf};

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn for_digest(digest: &str) -> Option<(Self, String)> {
        match digest.split_once(':')? {
            ("sha256", hex) => Some((Hasher::Sha256(Sha256::new()), hex.to_owned())),
            ("sha512", hex) => Some((Hasher::Sha512(Sha512::new()), hex.to_owned())),
            _ => None,
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }
    fn finish(&mut self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize_reset()),
            Hasher::Sha512(h) => hex::encode(h.finalize_reset()),
        }
    }
}

/// Wraps a blob stream: fails with `InvalidData` when the stream runs past `limit` bytes, or ends
/// with a size or digest other than expected.
pub struct VerifyingReader<R> {
    inner: R,
    digest: String,
    hasher: Hasher,
    expected_hex: String,
    expected_size: Option<u64>,
    limit: u64,
    read: u64,
    done: bool,
}

impl<R> VerifyingReader<R> {
    /// Verify `inner` against `digest` (`sha256:…` or `sha512:…`). `expected_size` is the
    /// descriptor's size when known (non-zero); `limit` caps the bytes read whatever the size says.
    pub fn new(inner: R, digest: &str, expected_size: Option<u64>, limit: u64) -> io::Result<Self> {
        let (hasher, expected_hex) = Hasher::for_digest(digest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported digest algorithm in {digest:?}"),
            )
        })?;
        Ok(VerifyingReader {
            inner,
            digest: digest.to_owned(),
            hasher,
            expected_hex,
            expected_size,
            limit,
            read: 0,
            done: false,
        })
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for VerifyingReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let new_len = buf.filled().len() - before;
                if new_len == 0 {
                    this.done = true;
                    if let Some(size) = this.expected_size {
                        if this.read != size {
                            return Poll::Ready(Err(invalid(format!(
                                "blob {} ended after {} bytes, but its descriptor says {size}",
                                this.digest, this.read
                            ))));
                        }
                    }
                    let got = this.hasher.finish();
                    if got != this.expected_hex {
                        let alg = this.digest.split(':').next().unwrap_or("sha256");
                        return Poll::Ready(Err(invalid(format!(
                            "blob digest mismatch: expected {}, got {alg}:{got}",
                            this.digest
                        ))));
                    }
                    return Poll::Ready(Ok(()));
                }
                this.read += new_len as u64;
                let cap = this.expected_size.map_or(this.limit, |s| s.min(this.limit));
                if this.read > cap {
                    this.done = true;
                    // An error must not come with data: take the bytes back out of the buffer.
                    buf.set_filled(before);
                    return Poll::Ready(Err(invalid(format!(
                        "blob {} is larger than {cap} bytes (its declared size or the limit for this use)",
                        this.digest
                    ))));
                }
                this.hasher.update(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Digest of `data` with the algorithm of `like` (`sha256:…` / `sha512:…`).
pub fn digest_like(like: &str, data: &[u8]) -> String {
    if like.starts_with("sha512:") {
        format!("sha512:{}", hex::encode(Sha512::digest(data)))
    } else {
        sha256_digest(data)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn read_all(data: &'static [u8], digest: &str, size: Option<u64>, limit: u64) -> io::Result<Vec<u8>> {
        let mut r = VerifyingReader::new(data, digest, size, limit)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn accepts_matching_blob_and_refuses_tampering() {
        let d = sha256_digest(b"hello");
        assert_eq!(read_all(b"hello", &d, Some(5), 100).await.unwrap(), b"hello");
        let e = read_all(b"hellO", &d, Some(5), 100).await.unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        let e = read_all(b"hello!", &d, Some(5), 100).await.unwrap_err();
        assert!(e.to_string().contains("larger than 5"), "{e}");
        let e = read_all(b"hell", &d, Some(5), 100).await.unwrap_err();
        assert!(e.to_string().contains("ended after 4"), "{e}");
        let e = read_all(b"hello", &d, None, 3).await.unwrap_err();
        assert!(e.to_string().contains("larger than 3"), "{e}");
    }
}
