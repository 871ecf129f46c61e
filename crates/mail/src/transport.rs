//! Transports and the sending queue.

use std::path::PathBuf;

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Body, Mailbox,
        header::{ContentTransferEncoding, ContentType},
    },
};
use tokio::sync::mpsc;

use crate::Mail;

/// Where mail goes (`MAIL_TRANSPORT`).
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// Written to the log, link and token included: development only.
    Log,
    /// One `.eml` file per mail in this directory.
    File(PathBuf),
    /// An SMTP server URL: `smtp://user:pass@host:port` or `smtps://…`.
    Smtp(String),
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Log => f.write_str("Log"),
            Self::File(dir) => f.debug_tuple("File").field(dir).finish(),
            // The URL may hold a password.
            Self::Smtp(_) => f.write_str("Smtp(..)"),
        }
    }
}

impl MailTransport {
    /// Parses `log`, `file:<dir>`, `smtp://…` or `smtps://…`.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("log") {
            Some(Self::Log)
        } else if let Some(dir) = raw.strip_prefix("file:") {
            (!dir.is_empty()).then(|| Self::File(PathBuf::from(dir)))
        } else if raw.starts_with("smtp://") || raw.starts_with("smtps://") {
            Some(Self::Smtp(raw.to_owned()))
        } else {
            None
        }
    }
}

/// Mail settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// Where mail goes.
    pub transport: MailTransport,
    /// The sender, `no-reply@example.com` or `Name <no-reply@example.com>`.
    pub from: String,
    /// How many mails may wait; past it, mails are dropped (and logged).
    pub queue_capacity: usize,
}

/// Why the mailer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `MAIL_FROM` is not a mailbox.
    #[error("invalid sender address: {0}")]
    From(String),
    /// The SMTP URL does not parse.
    #[error("invalid SMTP URL: {0}")]
    SmtpUrl(String),
    /// The mail directory cannot be created.
    #[error("cannot create the mail directory {dir}")]
    Directory {
        /// Which.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

enum Sender {
    Log,
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

/// Enqueues mails for the sending task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mailer {
    queue: mpsc::Sender<Mail>,
}

impl Mailer {
    /// Checks the settings and spawns the sending task on the current Tokio runtime.
    pub fn start(config: MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::From(e.to_string()))?;
        let sender = match &config.transport {
            MailTransport::Log => Sender::Log,
            MailTransport::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| MailError::Directory {
                    dir: dir.clone(),
                    source,
                })?;
                Sender::File(AsyncFileTransport::new(dir))
            }
            MailTransport::Smtp(url) => Sender::Smtp(Box::new(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::SmtpUrl(e.to_string()))?
                    .build(),
            )),
        };
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        tokio::spawn(send_all(receiver, sender, from));
        Ok(Self { queue })
    }

    /// Queues `mail`; never waits. A full queue drops it with a warning.
    pub fn send(&self, mail: Mail) {
        if let Err(error) = self.queue.try_send(mail) {
            let (reason, mail) = match error {
                mpsc::error::TrySendError::Full(mail) => ("queue full", mail),
                mpsc::error::TrySendError::Closed(mail) => ("mailer stopped", mail),
            };
            tracing::warn!(to = %mail.to, kind = ?mail.kind, reason, "mail dropped");
        }
    }
}

async fn send_all(mut queue: mpsc::Receiver<Mail>, sender: Sender, from: Mailbox) {
    while let Some(mail) = queue.recv().await {
        let (to, kind) = (mail.to.clone(), mail.kind);
        match deliver(&sender, &from, mail).await {
            Ok(()) => tracing::info!(%to, ?kind, "mail sent"),
            // The error describes the transport, never the body with its token.
            Err(error) => tracing::error!(%to, ?kind, %error, "mail not sent"),
        }
    }
}

async fn deliver(sender: &Sender, from: &Mailbox, mail: Mail) -> Result<(), String> {
    if let Sender::Log = sender {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.body,
            "mail (MAIL_TRANSPORT=log: not sent)"
        );
        return Ok(());
    }
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .map_err(|e: lettre::address::AddressError| e.to_string())?;
    // Plain 7bit keeps the link whole and clickable: lettre would pick quoted-printable
    // for lines over 76 characters and break it up with `=` soft line breaks. RFC 5322
    // allows 998 octets a line; the account mails' lines are far shorter.
    let body = if mail.body.is_ascii() && mail.body.lines().all(|line| line.len() <= 998) {
        Body::dangerous_pre_encoded(
            mail.body
                .replace("\r\n", "\n")
                .replace('\n', "\r\n")
                .into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        Body::new(mail.body)
    };
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject)
        // A generated Message-ID: mail without one looks like spam to many filters.
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())?;
    match sender {
        Sender::Log => Ok(()),
        Sender::File(transport) => transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Sender::Smtp(transport) => transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse() {
        assert_eq!(MailTransport::parse("log"), Some(MailTransport::Log));
        assert_eq!(
            MailTransport::parse("file:/tmp/mails"),
            Some(MailTransport::File("/tmp/mails".into()))
        );
        assert!(matches!(
            MailTransport::parse("smtps://u:p@mail.example.com:465"),
            Some(MailTransport::Smtp(_))
        ));
        for bad in ["", "file:", "mail", "http://x"] {
            assert_eq!(MailTransport::parse(bad), None, "{bad}");
        }
        assert!(
            !format!("{:?}", MailTransport::parse("smtp://u:secret@h").unwrap()).contains("secret")
        );
    }
}
