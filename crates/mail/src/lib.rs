//! Outgoing mail for Gatehouse: password-reset and address-verification mails.
//!
//! [`Mailer::start`] spawns one task that sends from a bounded queue, so a request never
//! waits for an SMTP server: [`Mailer::send`] only enqueues, and when the queue is full
//! the mail is dropped with a log line (the caller's answer does not change, which also
//! keeps it from telling anything about the account). A failed send is logged without
//! the mail's body, which holds a token.
//!
//! Transports, chosen by `MAIL_TRANSPORT`: `log` (development), `file:<dir>` (one RFC 5322
//! `.eml` file per mail: what tests read), `smtp://user:pass@host:port` (plain; add
//! `?tls=required` for STARTTLS) and `smtps://…` (TLS from the start).
#![warn(missing_docs)]

mod message;
mod transport;

pub use message::{Mail, MailKind, SecurityNotice, TokenMail};
pub use transport::{MailConfig, MailError, MailTransport, Mailer};
