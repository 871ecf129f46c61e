//! Gatehouse's use cases, between the HTTP layer and the repositories: every way in (a
//! password, its second step, a passkey, another provider) and what an account does by
//! mail. A flow takes the [`Client`] it serves, not an HTTP request, and answers with a
//! domain outcome ([`SignIn`]) or a typed refusal ([`SignInError`]); the JSON API and the
//! pages only translate, so a rule cannot differ between them.
//!
//! Settings come by value ([`Services::new`]); nothing here reads the environment.

pub mod account;
pub mod admin;
pub mod by_mail;
mod client;
pub mod clients;
mod error;
pub mod federation;
pub mod keys;
mod logins;
pub mod mails;
pub mod passkeys;
pub mod provider;
mod refusals;
pub mod roles;
mod services;
pub mod sessions;
pub mod signin;

pub use client::Client;
pub use error::{AppError, error_chain};
pub use logins::{LoginCounter, LoginOutcome};
pub use mails::{AccountMails, AccountOptions};
pub use refusals::{AccountError, LinkError, SignInError};
pub use services::{Providers, Services, SignInPolicy};
pub use signin::{SecondStep, SignIn};
