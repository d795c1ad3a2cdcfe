//! Read receipts and link clicks (`tutorials/post-call-webhooks.mdx`, 0071aa80): on the RCS and
//! WhatsApp channels a message the user reads becomes `read` and fires a `read` status
//! webhook; a link the user taps fires `link_clicked` (and reads the message). Neither is the
//! conversation's latest status webhook: its webhook log stays as it was.

use hyper::StatusCode;
use serde_json::{json, Map};

use super::Ctx;
use crate::base::clock::iso;
use crate::base::error::ApiError;
use crate::base::event::Status;
use crate::base::validation::Channel;
use crate::state::model::{Conversation, MessageStatus, Sender};

impl Ctx<'_> {
    /// The user reads message `message_id`, or (with `click`) taps that link in it.
    ///
    /// # Errors
    /// 404 `MESSAGE_NOT_FOUND`; 400 `INVALID_PARAMETER` for a conversation on SMS or iMessage,
    /// a message the user sent, or one that did not arrive.
    pub fn receipt(
        &mut self,
        c: &mut Conversation,
        message_id: &str,
        click: Option<String>,
    ) -> Result<(), ApiError> {
        if !(c.rcs || matches!(c.channel, Channel::Whatsapp)) {
            return Err(ApiError::invalid(format!(
                "read receipts and link clicks are RCS's and WhatsApp's; this conversation is \
                 on {}",
                c.channel_name()
            )));
        }
        let mut buf = [0; 36];
        let index = c
            .messages
            .iter()
            .position(|m| !m.deleted() && m.id_str(&mut buf) == message_id)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "MESSAGE_NOT_FOUND",
                    format!(
                        "No message {message_id:?} in conversation {}: GET \
                         /v1/sms/conversations/{} lists its messages",
                        c.id, c.id
                    ),
                )
            })?;
        let m = &c.messages[index];
        if m.sender() == Sender::User {
            return Err(ApiError::invalid(
                "the user sent this message: only the agent's and a human's are read by the user",
            ));
        }
        match m.status() {
            Some(MessageStatus::Failed | MessageStatus::Undelivered) => {
                return Err(ApiError::invalid(format!(
                    "message {message_id} did not reach the user (its carrier status is a \
                     failure): it cannot be read"
                )))
            }
            Some(MessageStatus::Pending | MessageStatus::Queued | MessageStatus::Sent) => {
                return Err(ApiError::invalid(format!(
                    "message {message_id} is not delivered yet: advance the clock past the \
                     carrier's steps first (GET /_sim/clock lists them)"
                )))
            }
            _ => {}
        }
        self.mark_read(c, index);
        if let Some(url) = click {
            let mut extra = Map::new();
            extra.insert("message_id".into(), json!(message_id));
            extra.insert("url".into(), json!(url));
            extra.insert("clicked_at".into(), json!(iso(self.now)));
            self.message_event_webhook(c, Status::LinkClicked, extra);
        }
        Ok(())
    }

    /// Message `index` becomes `read` and a `read` status webhook fires, unless it was read.
    pub(super) fn mark_read(&mut self, c: &mut Conversation, index: usize) {
        if c.messages[index].status() == Some(MessageStatus::Read) {
            return;
        }
        c.messages[index].set_status(Some(MessageStatus::Read));
        c.message_updates = c.message_updates.wrapping_add(1);
        let mut buf = [0; 36];
        let id = c.messages[index].id_str(&mut buf).to_string();
        let mut extra = Map::new();
        extra.insert("message_id".into(), json!(id));
        extra.insert("read_at".into(), json!(iso(self.now)));
        self.message_event_webhook(c, Status::Read, extra);
    }
}
