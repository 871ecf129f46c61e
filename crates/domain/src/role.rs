//! Roles: names a superuser makes and grants to accounts, carried in tokens so that the
//! services trusting gatehouse can decide who may do what. `is_superuser` is not a role:
//! gatehouse's own administration never reads a role, and never from a token.

use std::collections::BTreeSet;

use crate::ValidationError;

/// The most characters a role's name may have.
pub const MAX_ROLE_NAME_CHARS: usize = 64;
/// The most characters a role's description may have.
pub const MAX_ROLE_DESCRIPTION_CHARS: usize = 400;

/// A role's name: 1 to 64 characters from `a-z 0-9 _ . : -`, exactly as given (never
/// lower-cased or trimmed: a name other services compare must not change on its way in).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    /// Parses a name as given (field `name`).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let allowed = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | ':' | '-');
        if raw.is_empty() || raw.len() > MAX_ROLE_NAME_CHARS || !raw.chars().all(allowed) {
            return Err(ValidationError::new(
                "name",
                format!("must be 1 to {MAX_ROLE_NAME_CHARS} characters of a-z, 0-9, _ . : -"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a name read back from storage.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role's description, as typed: trimmed, at most 400 characters, no control characters
/// (it is shown in lists); empty when none was given.
pub fn parse_role_description(raw: Option<&str>) -> Result<String, ValidationError> {
    let description = raw.unwrap_or_default().trim();
    if description.chars().count() > MAX_ROLE_DESCRIPTION_CHARS {
        return Err(ValidationError::new(
            "description",
            format!("at most {MAX_ROLE_DESCRIPTION_CHARS} characters"),
        ));
    }
    if description.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(description.to_owned())
}

/// A role as administrators list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Its name.
    pub name: RoleName,
    /// What it is for.
    pub description: String,
    /// How many accounts hold it.
    pub members: u64,
}

/// The roles an account holds, in name order: what its tokens carry.
///
/// A token carries the roles as they were when it was issued. A grant or a revocation
/// changes no session and no token already out: it shows in the tokens of the next
/// refresh or sign-in. A service that must see a revocation at once uses a short access
/// lifetime, or asks the token's owner again (userinfo, introspection) before it acts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRoles(BTreeSet<RoleName>);

impl HeldRoles {
    /// The roles named.
    pub fn new(names: impl IntoIterator<Item = RoleName>) -> Self {
        Self(names.into_iter().collect())
    }

    /// Whether `name` is among them.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|held| held.as_str() == name)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, sorted, as tokens and answers write them.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|name| name.as_str().to_owned()).collect()
    }

    /// Each role, in order.
    pub fn iter(&self) -> impl Iterator<Item = &RoleName> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_name_is_one_to_sixty_four_of_the_allowed_characters() {
        for good in [
            "admin",
            "billing:read",
            "team.eu-west_1",
            "a",
            &"x".repeat(64),
        ] {
            assert_eq!(RoleName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Admin",
            " admin",
            "admin ",
            "röle",
            "a/b",
            "a b",
            "a,b",
            &"x".repeat(65),
        ] {
            let refused = RoleName::parse(bad).unwrap_err();
            assert_eq!(refused.field, "name", "{bad:?}");
        }
    }

    #[test]
    fn a_description_is_trimmed_bounded_and_optional() {
        assert_eq!(parse_role_description(None).unwrap(), "");
        assert_eq!(parse_role_description(Some("  Staff ")).unwrap(), "Staff");
        assert!(parse_role_description(Some(&"d".repeat(400))).is_ok());
        assert_eq!(
            parse_role_description(Some(&"d".repeat(401)))
                .unwrap_err()
                .field,
            "description"
        );
        assert!(parse_role_description(Some("a\u{7}b")).is_err());
    }

    #[test]
    fn held_roles_are_written_in_name_order_once_each() {
        let names = ["writer", "admin", "writer", "billing:read"]
            .map(|name| RoleName::parse(name).unwrap());
        let held = HeldRoles::new(names);
        assert_eq!(held.names(), ["admin", "billing:read", "writer"]);
        assert!(held.contains("admin") && !held.contains("adm"));
        assert!(HeldRoles::default().names().is_empty());
    }
}
