//! The account mails, as plain text.

use gatehouse_domain::Email;

/// Which account mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// "Reset your password": a single-use token for `POST /auth/reset-password`.
    PasswordReset,
    /// "Confirm your address": a single-use token for `POST /auth/verify`.
    VerifyEmail,
    /// A short notice that something security-relevant changed on the account.
    SecurityNotice,
}

/// A mail that carries a single-use token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMail {
    /// For `POST /auth/reset-password`.
    PasswordReset,
    /// For `POST /auth/verify`.
    VerifyEmail,
}

impl TokenMail {
    /// The kind, for logs.
    pub fn kind(self) -> MailKind {
        match self {
            Self::PasswordReset => MailKind::PasswordReset,
            Self::VerifyEmail => MailKind::VerifyEmail,
        }
    }
}

/// What a security notice tells the account's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityNotice {
    /// The password was changed (by the owner or an administrator).
    PasswordChanged,
    /// The password was set with a reset mail.
    PasswordReset,
    /// A second factor was added.
    SecondFactorAdded,
    /// A second factor was removed (by the owner or an administrator).
    SecondFactorRemoved,
    /// A passkey was added.
    PasskeyAdded,
    /// A passkey was removed by the owner.
    PasskeyRemoved,
    /// An identity at another provider was linked (it signs in to this account).
    IdentityLinked,
    /// A passkey presented a signature counter behind the stored one: its key may have
    /// been copied.
    PasskeyPossiblyCloned,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRenewed,
    /// A recovery code was used to log in; this many are left.
    RecoveryCodeUsed {
        /// Unused codes left.
        left: u32,
    },
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
        purpose: TokenMail,
        to: Email,
        app_name: &str,
        public_url: &str,
        token: &str,
        valid_for: &str,
    ) -> Self {
        let base = public_url.trim_end_matches('/');
        let (subject, action, path) = match purpose {
            TokenMail::PasswordReset => (
                format!("{app_name}: reset your password"),
                "Someone (hopefully you) asked to reset the password of this account.\nTo choose a new password, open",
                "reset-password",
            ),
            TokenMail::VerifyEmail => (
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
            kind: purpose.kind(),
        }
    }
}

impl Mail {
    /// A notice to `to` that `notice` happened, pointing at `public_url`'s password reset
    /// in case it was not them. It carries no token and no link that acts.
    pub fn security_notice(
        notice: SecurityNotice,
        to: Email,
        app_name: &str,
        public_url: &str,
    ) -> Self {
        let (subject, what) = match notice {
            SecurityNotice::PasswordChanged => (
                "your password was changed",
                "The password of this account was changed.".to_owned(),
            ),
            SecurityNotice::PasswordReset => (
                "your password was reset",
                "The password of this account was set with a reset mail.".to_owned(),
            ),
            SecurityNotice::SecondFactorAdded => (
                "a second factor was added",
                "A second factor (an authenticator app) was added to this account.".to_owned(),
            ),
            SecurityNotice::SecondFactorRemoved => (
                "a second factor was removed",
                "A second factor was removed from this account.".to_owned(),
            ),
            SecurityNotice::PasskeyAdded => (
                "a passkey was added",
                "A passkey was added to this account. It signs in without a password, and as the second step after one.".to_owned(),
            ),
            SecurityNotice::PasskeyRemoved => (
                "a passkey was removed",
                "A passkey was removed from this account.".to_owned(),
            ),
            SecurityNotice::IdentityLinked => (
                "a sign-in with another provider was linked",
                "An identity at another provider was linked to this account. It signs in to this account from now on.".to_owned(),
            ),
            SecurityNotice::PasskeyPossiblyCloned => (
                "a passkey may have been copied",
                "A sign-in with one of this account's passkeys was refused: its authenticator's counter was behind, which happens when its key was copied. The passkey is marked in the account's list; if you did not copy it, remove it and sign out everywhere.".to_owned(),
            ),
            SecurityNotice::RecoveryCodesRenewed => (
                "new recovery codes",
                "New recovery codes were made for this account; the old ones no longer work."
                    .to_owned(),
            ),
            SecurityNotice::RecoveryCodeUsed { left } => (
                "a recovery code was used",
                format!(
                    "A recovery code was used to sign in to this account. {left} unused code(s) left."
                ),
            ),
        };
        let base = public_url.trim_end_matches('/');
        let body = format!(
            "{what}\n\nIf this was you, there is nothing to do. If it was not, reset your password at once\n({base}/forgot-password) and tell your administrator.\n"
        );
        Self {
            to,
            subject: format!("{app_name}: {subject}"),
            body,
            kind: MailKind::SecurityNotice,
        }
    }

    /// [`security_notice`](Self::security_notice) of a way in that was added, with the
    /// link that undoes it when it was not the owner (`{public_url}/not-me?token=…`, and
    /// the token on a line of its own). Opening the link changes nothing; its page's
    /// button does.
    pub fn security_notice_undoable(
        notice: SecurityNotice,
        to: Email,
        app_name: &str,
        public_url: &str,
        token: &str,
        valid_for: &str,
    ) -> Self {
        let mut mail = Self::security_notice(notice, to, app_name, public_url);
        let base = public_url.trim_end_matches('/');
        let what = mail.body.lines().next().unwrap_or_default().to_owned();
        mail.body = format!(
            "{what}\n\nIf this was you, there is nothing to do. If it was not, someone has your password:\nopen this link and press \"Secure my account\". It removes what was added, signs\nout every device and asks you for a new password.\n\n  {base}/not-me?token={token}\n\nor use this token:\n\nToken: {token}\n\nIt is valid for {valid_for} and works once.\n"
        );
        mail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_carries_the_link_and_the_token_line() {
        let mail = Mail::account(
            TokenMail::PasswordReset,
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

    #[test]
    fn a_recovery_code_notice_says_how_many_are_left() {
        let mail = Mail::security_notice(
            SecurityNotice::RecoveryCodeUsed { left: 7 },
            Email::parse("you@example.com").unwrap(),
            "Gatehouse",
            "https://auth.example.com",
        );
        assert_eq!(mail.subject, "Gatehouse: a recovery code was used");
        assert!(mail.body.contains("7 unused code(s) left"), "{}", mail.body);
        assert!(!mail.body.contains("Token:"));
    }
}
