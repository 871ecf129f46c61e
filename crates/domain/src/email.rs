//! Email addresses are compared case-insensitively and regardless of Unicode form, so
//! they are stored in one canonical form — NFC, lower-cased — and uniqueness is a plain
//! byte-wise database constraint, the same on every backend, instead of a collation
//! question (MariaDB's default collation would also equate `jose` and `josé`).

use std::fmt;

use email_address::{EmailAddress, Options};
use unicode_normalization::UnicodeNormalization;

use crate::ValidationError;

/// RFC 5321 limits a forward path to 256 octets, including the angle brackets.
const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid email address, trimmed, in Unicode NFC and lower-cased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// `raw` in the form addresses are kept in, whether or not it is one: trimmed, NFC,
    /// lower-cased (what a search for a part of an address compares with).
    pub fn canonical(raw: &str) -> String {
        // Lower-casing can leave a string out of NFC, so normalise on both sides of it.
        raw.trim()
            .nfc()
            .collect::<String>()
            .to_lowercase()
            .nfc()
            .collect()
    }

    /// Parses user input: trims surrounding white space, brings it to its canonical form
    /// (NFC, lower-case: `JOSE\u{301}@X.COM` and `jos\u{e9}@x.com` are one address), then
    /// checks length, the single `@` and the domain part of that form.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let canonical = Self::canonical(raw);
        let trimmed = canonical.as_str();
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
        Ok(Self(canonical))
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
    fn unicode_forms_and_case_give_one_address() {
        let composed = Email::parse("Jos\u{e9}@Example.com").unwrap();
        let decomposed = Email::parse("JOSE\u{301}@EXAMPLE.COM").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "jos\u{e9}@example.com");
        assert_ne!(composed, Email::parse("jose@example.com").unwrap());
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

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_its_result_is_canonical(raw in "\\PC{0,300}") {
            if let Ok(email) = Email::parse(&raw) {
                proptest::prop_assert!(email.as_str().len() <= MAX_EMAIL_LEN);
                proptest::prop_assert_eq!(email.as_str().matches('@').count(), 1);
                // The canonical form parses to itself.
                proptest::prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
        }

        #[test]
        fn address_shaped_input_parses_case_insensitively(
            local in "[a-zA-Z0-9._%+-]{1,40}",
            domain in "[a-zA-Z][a-zA-Z0-9-]{0,20}\\.[a-zA-Z]{2,6}",
        ) {
            let raw = format!("{local}@{domain}");
            if let Ok(email) = Email::parse(&raw) {
                proptest::prop_assert_eq!(Email::parse(&raw.to_uppercase()), Ok(email));
            }
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
