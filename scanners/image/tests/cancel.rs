//! Dropping a layer walk (as the pipeline's timeout does) stops reading the blob.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use regscan_scanner_image::{walk_blob, WalkLimits};
use tokio::io::{AsyncRead, ReadBuf};

/// A plain tar stream of one enormous file: a header, then zeros until 5 s have passed (so a
/// regression fails the assertions below instead of hanging the test runtime's shutdown).
struct Endless {
    header: Vec<u8>,
    pos: usize,
    reads: Arc<AtomicU64>,
    started: Instant,
}

impl AsyncRead for Endless {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.started.elapsed() > Duration::from_secs(5) {
            return Poll::Ready(Err(std::io::Error::other("test stream gave up")));
        }
        if self.pos < self.header.len() {
            let n = buf.remaining().min(self.header.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.header[start..start + n]);
            self.pos += n;
        } else {
            let n = buf.remaining().min(64 << 10);
            buf.put_slice(&vec![0u8; n]);
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_walk_stops_reading() {
    let mut h = tar::Header::new_gnu();
    h.set_path("var/tmp/huge").unwrap();
    h.set_size(1 << 40);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let reads = Arc::new(AtomicU64::new(0));
    let blob = Endless {
        header: h.as_bytes().to_vec(),
        pos: 0,
        reads: reads.clone(),
        started: Instant::now(),
    };
    let limits = WalkLimits {
        max_bytes: u64::MAX,
        ..Default::default()
    };
    let walk = walk_blob(Box::pin(blob), "sha256:endless", limits);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), walk).await.is_err(),
        "an endless layer cannot finish"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_drop = reads.load(Ordering::SeqCst);
    assert!(after_drop > 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reads.load(Ordering::SeqCst),
        after_drop,
        "the blocking walk kept reading after the future was dropped"
    );
}
