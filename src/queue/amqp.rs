//! AMQP plumbing shared by the RabbitMQ job queue ([`super::rabbitmq`]) and the scan-event
//! publisher ([`crate::notify`]): a connection on the Tokio runtime, publishing channels in
//! confirm mode that are opened on first use and opened again after the connection drops, and
//! what a publisher confirm means.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use lapin::options::ConfirmSelectOptions;
use lapin::publisher_confirm::Confirmation;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

/// Open a connection to `url` named `name` (as the broker's management UI shows it).
pub(crate) async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name(name.into());
    Connection::connect(url, props).await
}

/// Why the broker did not take a published message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The message was returned (unroutable with `mandatory`), with the broker's reply text.
    #[error("returned by the broker: {0}")]
    Returned(String),
    /// A negative acknowledgement.
    #[error("negative acknowledgement")]
    Nack,
    /// The channel is not in confirm mode.
    #[error("confirms not enabled")]
    NotRequested,
}

/// What a publisher confirm says: `Ok` when the broker took the message.
pub(crate) fn confirmed(confirmation: Confirmation) -> Result<(), Refusal> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
            Err(Refusal::Returned(returned.reply_text.to_string()))
        }
        Confirmation::Nack(None) => Err(Refusal::Nack),
        Confirmation::NotRequested => Err(Refusal::NotRequested),
    }
}

/// One connection with a few confirm-mode channels for publishing, used round robin. It is
/// opened on first use, and opened again (declaring the topology again) on the first use after
/// it dropped or after [`Link::reset`].
pub(crate) struct Link {
    url: String,
    name: String,
    channels: usize,
    /// The live connection (read on every publish; written on reconnect).
    live: RwLock<Option<Live>>,
    /// Serialises reconnections.
    reconnect: Mutex<()>,
}

#[derive(Clone)]
struct Live {
    conn: Arc<Connection>,
    channels: Vec<Channel>,
    next: Arc<AtomicUsize>,
}

impl Live {
    fn up(&self) -> bool {
        self.conn.status().connected() && self.channels.iter().all(|c| c.status().connected())
    }

    fn pick(&self) -> Channel {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[i].clone()
    }
}

impl Link {
    /// A link to `url`, named `name`, with `channels` publishing channels (at least one).
    pub(crate) fn new(url: &str, name: &str, channels: usize) -> Self {
        Link {
            url: url.to_owned(),
            name: name.to_owned(),
            channels: channels.max(1),
            live: RwLock::new(None),
            reconnect: Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Live> {
        let slot = self.live.read().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|l| l.up()).cloned()
    }

    /// A confirm-mode channel. When there is no live connection, connect first and run
    /// `declare` on a channel of the new connection before anyone publishes on it.
    pub(crate) async fn channel<F, Fut>(&self, declare: F) -> Result<Channel, lapin::Error>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<(), lapin::Error>>,
    {
        if let Some(l) = self.current() {
            return Ok(l.pick());
        }
        let _one_at_a_time = self.reconnect.lock().await;
        if let Some(l) = self.current() {
            return Ok(l.pick());
        }
        self.reset().await;
        let conn = connect(&self.url, &self.name).await?;
        let mut channels = Vec::with_capacity(self.channels);
        for _ in 0..self.channels {
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            channels.push(ch);
        }
        declare(channels[0].clone()).await?;
        let live = Live {
            conn: Arc::new(conn),
            channels,
            next: Arc::new(AtomicUsize::new(0)),
        };
        let ch = live.pick();
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = Some(live);
        Ok(ch)
    }

    /// Close the connection, so the next [`Link::channel`] opens a new one.
    pub(crate) async fn reset(&self) {
        let old = self.live.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(l) = old {
            let _ = l.conn.close(200, "reconnecting").await;
        }
    }
}
