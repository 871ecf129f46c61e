//! Email addresses are compared case-insensitively, so they are stored lower-cased: that
//! keeps uniqueness a plain database constraint instead of a collation question.

use std::fmt;

use email_address::{EmailAddress, Options};

use crate::ValidationError;

/// RFC 5321 limits a forward path to 256 octets, including the angle brackets.
const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses user input: trims surrounding white space, checks length, the single `@` and
    /// the domain part, and lower-cases the result.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        let invalid = |reason: &str| ValidationError::new("email", reason);
        if trimmed.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        if trimmed.matches('@').count() != 1 {
            return Err(invalid("must contain exactly one '@'"));
        }
        let options = Options::default()
            .without_display_text()
            .without_domain_literal();
        EmailAddress::parse_with_options(trimmed, options)
            .map_err(|_| invalid("is not a valid email address"))?;
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The address, lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_lowercases() {
        let email = Email::parse("  You@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "you@example.com");
    }

    #[test]
    fn parse_rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "a@b@example.com",
            "@example.com",
            "you@",
            "you@exa mple.com",
            "you@-example.com",
            "Name <you@example.com>",
            "you@[127.0.0.1]",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad:?}");
        }
    }

    #[test]
    fn parse_accepts_254_characters_and_rejects_255() {
        let domain = ["c", "d", "e", "f"].map(|c| c.repeat(60)).join(".") + ".com";
        let at_limit = format!("{}@{domain}", "a".repeat(254 - domain.len() - 1));
        assert_eq!(at_limit.len(), 254);
        assert!(Email::parse(&at_limit).is_ok());
        let over_limit = format!("a{at_limit}");
        assert_eq!(Email::parse(&over_limit).unwrap_err().field, "email");
    }
}
