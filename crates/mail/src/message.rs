//! The account mails, as plain text.

use gatehouse_domain::Email;

/// Which account mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// "Reset your password": a single-use token for `POST /auth/reset-password`.
    PasswordReset,
    /// "Confirm your address": a single-use token for `POST /auth/verify`.
    VerifyEmail,
}

/// A mail ready to send. `Debug` never shows the body (it holds a token).
#[derive(Clone)]
pub struct Mail {
    /// Recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// What it is, for logs.
    pub kind: MailKind,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Mail {
    /// The mail carrying `token` for `kind`: a link built from `public_url` (the address
    /// users reach the service at) and the token on a line of its own, for clients that
    /// have no page at that link.
    pub fn account(
        kind: MailKind,
        to: Email,
        app_name: &str,
        public_url: &str,
        token: &str,
        valid_for: &str,
    ) -> Self {
        let base = public_url.trim_end_matches('/');
        let (subject, action, path) = match kind {
            MailKind::PasswordReset => (
                format!("{app_name}: reset your password"),
                "Someone (hopefully you) asked to reset the password of this account.\nTo choose a new password, open",
                "reset-password",
            ),
            MailKind::VerifyEmail => (
                format!("{app_name}: confirm your email address"),
                "Please confirm that this address belongs to you. Open",
                "verify",
            ),
        };
        let body = format!(
            "{action}\n\n  {base}/{path}?token={token}\n\nor use this token:\n\nToken: {token}\n\n\
             It is valid for {valid_for} and works once. If you did not ask for this, ignore this mail.\n"
        );
        Self {
            to,
            subject,
            body,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_carries_the_link_and_the_token_line() {
        let mail = Mail::account(
            MailKind::PasswordReset,
            Email::parse("you@example.com").unwrap(),
            "Gatehouse",
            "https://auth.example.com/",
            "tok123",
            "30 minutes",
        );
        assert!(
            mail.body
                .contains("https://auth.example.com/reset-password?token=tok123")
        );
        assert!(mail.body.lines().any(|line| line == "Token: tok123"));
        assert!(!format!("{mail:?}").contains("tok123"));
    }
}
