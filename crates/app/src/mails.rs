//! Account mails, prepared off the request path.
//!
//! `forgot-password` and `request-verify` only enqueue a job and answer 202 at once; a
//! single task looks the account up, stores a single-use token and hands the mail to the
//! mailer. So the answer, and its timing, is the same whether the account exists or not
//! (no enumeration), and a slow database or SMTP server never holds up a request. The
//! queue is bounded: past it a job is dropped with a log line. With rate limits on, an
//! address gets at most one mail per cool-down (a minute), whoever asks and however often:
//! nobody can flood a mailbox through these routes.

use chrono::{Duration, Utc};
use gatehouse_auth::OneTimeToken;
use gatehouse_domain::{
    AuditContext, AuditEventType, Email, NewAuditEvent, OneTimePurpose, User, UserId, WayIn,
};
use gatehouse_mail::{Mail, Mailer, SecurityNotice, TokenMail};
use gatehouse_persistence::{
    AuditRepository, MailCooldownRepository, OneTimeTokenRepository, RepoError, UserRepository,
};
use tokio::sync::mpsc;

/// How many account-mail jobs may wait.
const JOB_QUEUE_CAPACITY: usize = 1024;

/// How long a "this wasn't me" link works.
pub(crate) const NOT_ME_TTL: Duration = Duration::days(7);

/// What account mails say and how long their tokens live.
#[derive(Debug, Clone)]
pub struct AccountOptions {
    /// Shown in subjects.
    pub app_name: String,
    /// Where users reach the service; links in mails start with it.
    pub public_url: String,
    /// Lifetime of a password-reset token.
    pub reset_ttl: Duration,
    /// Lifetime of an address-verification token.
    pub verify_ttl: Duration,
    /// Whether unverified accounts are refused at login.
    pub require_verified_email: bool,
    /// At most one mail per address within this time (`None`: no limit).
    pub mail_cooldown: Option<Duration>,
    /// Whether the notices of a way in added carry the "this wasn't me" link (its page is
    /// one of the pages: off with them).
    pub not_me_links: bool,
}

impl Default for AccountOptions {
    fn default() -> Self {
        Self {
            app_name: "Gatehouse".into(),
            public_url: "http://127.0.0.1:8000".into(),
            reset_ttl: Duration::minutes(30),
            verify_ttl: Duration::hours(24),
            require_verified_email: false,
            mail_cooldown: Some(Duration::minutes(1)),
            not_me_links: true,
        }
    }
}

/// A mail to prepare, and where the request for it came from (for its audit event).
#[derive(Debug)]
enum Job {
    PasswordReset(Email, AuditContext),
    VerifyEmail(UserId, AuditContext),
    Notice(UserId, SecurityNotice, Option<WayIn>),
}

/// Enqueues account-mail jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AccountMails {
    queue: mpsc::Sender<Job>,
}

impl AccountMails {
    /// Spawns the task that prepares and hands over account mails.
    pub fn start(
        users: UserRepository,
        tokens: OneTimeTokenRepository,
        cooldowns: MailCooldownRepository,
        audit: AuditRepository,
        mailer: Mailer,
        options: AccountOptions,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(JOB_QUEUE_CAPACITY);
        let worker = Worker {
            users,
            tokens,
            cooldowns,
            audit,
            mailer,
            options,
        };
        tokio::spawn(worker.run(jobs));
        Self { queue }
    }

    /// A reset mail to `email`, if an active account has it; asked for from `context`.
    pub fn password_reset(&self, email: Email, context: AuditContext) {
        self.submit(Job::PasswordReset(email, context));
    }

    /// A verification mail to `user`, if not verified yet; asked for from `context`.
    pub fn verify_email(&self, user: UserId, context: AuditContext) {
        self.submit(Job::VerifyEmail(user, context));
    }

    /// A short notice to `user`'s address that `notice` happened. Not held back by the
    /// cool-down: each follows an action that needed the account's credentials.
    pub fn notify(&self, user: UserId, notice: SecurityNotice) {
        self.submit(Job::Notice(user, notice, None));
    }

    /// Tells `user` that `way` was added to the account, with the "this wasn't me" link
    /// that undoes it (single use, `NOT_ME_TTL` (7 days)).
    pub fn notify_added(&self, user: UserId, notice: SecurityNotice, way: WayIn) {
        self.submit(Job::Notice(user, notice, Some(way)));
    }

    fn submit(&self, job: Job) {
        if let Err(error) = self.queue.try_send(job) {
            tracing::warn!(error = %error, "account mail job dropped");
        }
    }
}

struct Worker {
    users: UserRepository,
    tokens: OneTimeTokenRepository,
    cooldowns: MailCooldownRepository,
    audit: AuditRepository,
    mailer: Mailer,
    options: AccountOptions,
}

impl Worker {
    async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.recv().await {
            if let Err(error) = self.handle(job).await {
                tracing::warn!(error = %crate::error::error_chain(&error), "account mail not prepared");
            }
        }
    }

    /// Requests for an address no account has are not recorded: there is no account to
    /// attach them to, and the per-IP limit already bounds them.
    async fn handle(&self, job: Job) -> Result<(), RepoError> {
        match job {
            Job::PasswordReset(email, context) => match self.users.find_by_email(&email).await? {
                Some(user) => {
                    let event = NewAuditEvent::new(
                        AuditEventType::PasswordResetRequested,
                        Some(user.id),
                        &context,
                        Utc::now(),
                    );
                    if user.is_active {
                        self.mail(
                            user,
                            TokenMail::PasswordReset,
                            OneTimePurpose::PasswordReset,
                            event,
                        )
                        .await
                    } else {
                        self.audit.record(&event.with("mail", "inactive")).await
                    }
                }
                None => Ok(()),
            },
            Job::VerifyEmail(id, context) => match self.users.find_by_id(id).await? {
                Some(user) if !user.is_verified => {
                    let event = NewAuditEvent::new(
                        AuditEventType::EmailVerificationRequested,
                        Some(user.id),
                        &context,
                        Utc::now(),
                    );
                    self.mail(
                        user,
                        TokenMail::VerifyEmail,
                        OneTimePurpose::VerifyEmail,
                        event,
                    )
                    .await
                }
                _ => Ok(()),
            },
            Job::Notice(id, notice, way) => {
                let Some(user) = self.users.find_by_id(id).await? else {
                    return Ok(());
                };
                let (app, url) = (&self.options.app_name, &self.options.public_url);
                let way = way.filter(|_| self.options.not_me_links);
                let mail = match way {
                    None => Mail::security_notice(notice, user.email, app, url),
                    Some(way) => {
                        let token = OneTimeToken::generate();
                        let now = Utc::now();
                        match self
                            .tokens
                            .issue_not_me(user.id, way, &token.hash, now + NOT_ME_TTL, now)
                            .await
                        {
                            Ok(()) => Mail::security_notice_undoable(
                                notice,
                                user.email,
                                app,
                                url,
                                &token.secret,
                                &describe(NOT_ME_TTL),
                            ),
                            // The owner hears of it all the same, without the link.
                            Err(error) => {
                                tracing::warn!(error = %crate::error::error_chain(&error), user = %user.id, "not-me link not stored; the notice goes without it");
                                Mail::security_notice(notice, user.email, app, url)
                            }
                        }
                    }
                };
                self.mailer.send(mail);
                Ok(())
            }
        }
    }

    /// Sends `kind` to `user` with a new token, recording `event` (the request) with the
    /// token; or, inside the cool-down, records the request alone and sends nothing.
    async fn mail(
        &self,
        user: User,
        kind: TokenMail,
        purpose: OneTimePurpose,
        event: NewAuditEvent,
    ) -> Result<(), RepoError> {
        let (ttl, valid_for) = match purpose {
            OneTimePurpose::PasswordReset => {
                (self.options.reset_ttl, describe(self.options.reset_ttl))
            }
            OneTimePurpose::VerifyEmail => {
                (self.options.verify_ttl, describe(self.options.verify_ttl))
            }
            OneTimePurpose::NotMe => (NOT_ME_TTL, describe(NOT_ME_TTL)),
        };
        let now = Utc::now();
        if let Some(cooldown) = self.options.mail_cooldown
            && !self.cooldowns.claim(&user.email, cooldown, now).await?
        {
            tracing::info!(user = %user.id, ?kind, "account mail not sent: this address had one within the cool-down");
            return self.audit.record(&event.with("mail", "cooldown")).await;
        }
        let token = OneTimeToken::generate();
        let event = event.with("mail", "sent");
        let issued = self
            .tokens
            .issue_recorded(user.id, purpose, &token.hash, now + ttl, now, Some(&event))
            .await;
        if let Err(error) = issued {
            if self.options.mail_cooldown.is_some() {
                // No mail went out: the next request may try again at once.
                self.cooldowns.release(&user.email).await?;
            }
            return Err(error);
        }
        self.mailer.send(Mail::account(
            kind,
            user.email,
            &self.options.app_name,
            &self.options.public_url,
            &token.secret,
            &valid_for,
        ));
        Ok(())
    }
}

/// "30 minutes", "24 hours".
fn describe(ttl: Duration) -> String {
    let minutes = ttl.num_minutes();
    if minutes % (24 * 60) == 0 && minutes >= 24 * 60 {
        format!("{} days", minutes / (24 * 60))
    } else if minutes % 60 == 0 && minutes >= 60 {
        format!("{} hours", minutes / 60)
    } else {
        format!("{minutes} minutes")
    }
}
