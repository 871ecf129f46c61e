//! Second factors, and how strongly a login proved who it was.

/// Authenticator assurance level (NIST SP 800-63B), as the `aal` claim spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Aal {
    /// One factor: a password.
    Aal1,
    /// Two factors: a password and a second factor (or a passkey, which is both).
    Aal2,
}

impl Aal {
    /// `aal1` or `aal2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// The level with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "aal1" => Some(Self::Aal1),
            "aal2" => Some(Self::Aal2),
            _ => None,
        }
    }
}

/// A way of proving who one is, named as RFC 8176 names it in the `amr` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A password (`pwd`).
    Password,
    /// A one-time code: TOTP or a recovery code (`otp`).
    OneTimeCode,
    /// A hardware-bound key: a passkey (`hwk`).
    HardwareKey,
    /// Another OpenID Provider vouched (`fed`).
    Federated,
}

impl AuthMethod {
    /// The RFC 8176 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::OneTimeCode => "otp",
            Self::HardwareKey => "hwk",
            Self::Federated => "fed",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pwd" => Some(Self::Password),
            "otp" => Some(Self::OneTimeCode),
            "hwk" => Some(Self::HardwareKey),
            "fed" => Some(Self::Federated),
            _ => None,
        }
    }
}

/// How a session's login was made: the methods used, from which its level follows. A
/// session keeps the assurance it was opened with; refreshing never raises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assurance {
    methods: Vec<AuthMethod>,
}

impl Assurance {
    /// A password alone: `aal1`, `["pwd"]`.
    pub fn password() -> Self {
        Self {
            methods: vec![AuthMethod::Password],
        }
    }

    /// A password and then `second` (a TOTP or recovery code): `aal2`,
    /// `["pwd", "otp", "mfa"]`.
    pub fn password_and(second: AuthMethod) -> Self {
        Self::first_and(AuthMethod::Password, second)
    }

    /// `first` (a password, or another provider) and then `second`: `aal2` when they
    /// differ.
    pub fn first_and(first: AuthMethod, second: AuthMethod) -> Self {
        Self {
            methods: vec![first, second],
        }
    }

    /// Another OpenID Provider alone: `aal1`, `["fed"]` (what the provider checked is
    /// its own business).
    pub fn federated() -> Self {
        Self {
            methods: vec![AuthMethod::Federated],
        }
    }

    /// A passkey alone: it is something one has, unlocked by something one is or knows,
    /// so `aal2` on its own, `["hwk"]`.
    pub fn passkey() -> Self {
        Self {
            methods: vec![AuthMethod::HardwareKey],
        }
    }

    /// The first method used.
    pub fn first(&self) -> AuthMethod {
        self.methods[0]
    }

    /// The level: two different methods, or a hardware key, make `aal2`.
    pub fn aal(&self) -> Aal {
        if self.is_multi_factor() || self.methods.contains(&AuthMethod::HardwareKey) {
            Aal::Aal2
        } else {
            Aal::Aal1
        }
    }

    fn is_multi_factor(&self) -> bool {
        self.methods.iter().any(|method| *method != self.methods[0])
    }

    /// The `amr` claim: the methods' names, then `mfa` when more than one factor was used.
    pub fn amr(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.methods.iter().map(|m| m.as_str()).collect();
        if self.is_multi_factor() {
            names.push("mfa");
        }
        names
    }

    /// The assurance an `amr` claim names (`mfa` is implied by the methods, so skipped);
    /// `None` when a name is unknown or none is given.
    pub fn from_amr<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let methods = names
            .into_iter()
            .filter(|name| *name != "mfa")
            .map(AuthMethod::parse)
            .collect::<Option<Vec<_>>>()?;
        (!methods.is_empty()).then_some(Self { methods })
    }

    /// The methods as stored: their names separated by spaces (`pwd otp`).
    pub fn to_stored(&self) -> String {
        self.methods
            .iter()
            .map(|method| method.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The assurance stored as [`to_stored`](Self::to_stored) wrote it; `None` when a name
    /// is unknown or there is none.
    pub fn from_stored(raw: &str) -> Option<Self> {
        let methods = raw
            .split_whitespace()
            .map(AuthMethod::parse)
            .collect::<Option<Vec<_>>>()?;
        (!methods.is_empty()).then_some(Self { methods })
    }
}

/// What second factors an account has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondFactors {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: u32,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

impl SecondFactors {
    /// Whether a login of this account needs a second step.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// What the second step accepts, as the `methods` member names it.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.totp {
            methods.push("totp");
        }
        if self.passkeys > 0 {
            methods.push("passkey");
        }
        if self.any() && self.recovery_codes_left > 0 {
            methods.push("recovery_code");
        }
        methods
    }
}

/// A recovery code as typed, reduced to what identifies it: lower case, without spaces or
/// `-`, so `ABCD-efgh ijkl` and `abcdefghijkl` are the same code.
pub fn normalize_recovery_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A six-digit TOTP code as typed (spaces allowed between digits); `None` when it is not
/// one, which a route answers like a wrong code.
pub fn parse_totp_code(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_alone_is_aal1_and_a_second_factor_makes_aal2() {
        let password = Assurance::password();
        assert_eq!(password.aal(), Aal::Aal1);
        assert_eq!(password.amr(), ["pwd"]);
        let both = Assurance::password_and(AuthMethod::OneTimeCode);
        assert_eq!(both.aal(), Aal::Aal2);
        assert_eq!(both.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(
            Assurance::from_stored(&both.to_stored()),
            Some(both.clone())
        );
        assert_eq!(Assurance::from_amr(both.amr()), Some(both));
        assert_eq!(Assurance::from_stored("pwd sms"), None);
        assert_eq!(Assurance::passkey().aal(), Aal::Aal2);
        assert_eq!(Assurance::passkey().amr(), ["hwk"]);
        let second_passkey = Assurance::password_and(AuthMethod::HardwareKey);
        assert_eq!(second_passkey.amr(), ["pwd", "hwk", "mfa"]);
        assert_eq!(Assurance::from_stored(""), None);
    }

    #[test]
    fn methods_list_recovery_codes_only_beside_a_factor() {
        let codes_only = SecondFactors {
            recovery_codes_left: 3,
            ..SecondFactors::default()
        };
        assert!(!codes_only.any());
        assert!(codes_only.methods().is_empty());
        let totp = SecondFactors {
            totp: true,
            ..codes_only
        };
        assert_eq!(totp.methods(), ["totp", "recovery_code"]);
    }

    #[test]
    fn codes_are_compared_without_case_spaces_or_dashes() {
        assert_eq!(normalize_recovery_code(" ABCD-efgh ijkl "), "abcdefghijkl");
        assert_eq!(parse_totp_code("123 456").as_deref(), Some("123456"));
        assert_eq!(parse_totp_code("12345"), None);
        assert_eq!(parse_totp_code("12345a"), None);
        assert_eq!(parse_totp_code("１２３４５６"), None, "only ASCII digits");
    }
}
