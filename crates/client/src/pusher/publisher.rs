//! The application's side of a push: [`Publisher::start`] and the [`PublisherHandle`] that controls it.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::driver::Driver;
use super::source::{self, Source};
use super::{PublishOptions, PushError, PusherEvent};
use crate::url::RtmpUrl;

/// Events waiting for the application; past this, net-status reports are dropped (status events too, with a
/// warning) rather than letting a receiver nobody reads grow without limit.
const EVENT_QUEUE: usize = 256;
/// Tags waiting between the source task and the driver.
const SOURCE_QUEUE: usize = 256;

/// What the application asks of a running push.
#[derive(Debug)]
pub(crate) enum Command {
    Pause,
    Resume,
    Stop,
    Message(Bytes),
}

/// Starts pushes. See [`Publisher::start`].
#[derive(Debug)]
pub struct Publisher;

/// Controls a running push. Dropping it stops the push.
#[derive(Debug)]
pub struct PublisherHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl Publisher {
    /// Starts pushing `source` to `url` (`rtmp://host[:port]/app[/...]/stream[?query]`) on the current Tokio
    /// runtime. Returns the handle and the events: status codes as they happen, a [`NetStatus`](super::NetStatus)
    /// every [`PublishOptions::net_status_interval`], and [`PusherEvent::Ended`] last.
    ///
    /// Errors only for what cannot work at all (a malformed URL, no runtime); network failures are status events.
    pub fn start(
        url: &str,
        source: Source,
        opts: PublishOptions,
    ) -> Result<(PublisherHandle, mpsc::Receiver<PusherEvent>), PushError> {
        let url = RtmpUrl::parse(url)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| PushError::NoRuntime)?;
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let _guard = runtime.enter();
        let (source_tx, source_rx) = mpsc::channel(SOURCE_QUEUE);
        let encoder = matches!(source, Source::TestPattern { .. });
        let source_task = source::spawn(source, source_tx);
        let driver = Driver::new(url, opts, events, commands, source_rx, source_task, encoder);
        runtime.spawn(driver.run());
        Ok((
            PublisherHandle {
                commands: commands_tx,
            },
            events_rx,
        ))
    }
}

impl PublisherHandle {
    /// Stops sending media but keeps the connection (live-pusher `pause`). Every
    /// [`PublishOptions::paused_keepalive`] the metadata is sent again, so the server's no-data timeout does not
    /// close the push. Does nothing once the push has ended.
    pub fn pause(&self) {
        let _ = self.commands.send(Command::Pause);
    }

    /// Sends media again, from the next keyframe. Does nothing once the push has ended.
    pub fn resume(&self) {
        let _ = self.commands.send(Command::Resume);
    }

    /// Unpublishes, closes the connection and ends the push ([`PushEnd::Stopped`]).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// Embeds `text` in the next H.264 video frame as a user_data_unregistered SEI message with
    /// [`MESSAGE_SEI_UUID`](super::MESSAGE_SEI_UUID). Messages wait while no video is sent (at most 64; then the
    /// oldest is dropped with a warning); a stream that is not legacy H.264 cannot carry them (dropped with a warning).
    pub fn send_message(&self, text: &str) -> Result<(), PushError> {
        if text.len() > flv::sei::MAX_SEI_MESSAGE {
            return Err(PushError::MessageTooLong {
                len: text.len(),
                max: flv::sei::MAX_SEI_MESSAGE,
            });
        }
        self.commands
            .send(Command::Message(Bytes::copy_from_slice(text.as_bytes())))
            .map_err(|_| PushError::Ended)
    }
}
