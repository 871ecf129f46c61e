//! The error answers many routes share, declared once: a route lists the groups that
//! apply (`responses((status = 200, …), JsonBodyRefused, DatabaseDown)`) and writes out
//! only the answers that are its own. Every one is a problem document (RFC 9457).

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses,
    openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder},
};

use crate::error::PROBLEM_JSON;

/// A problem-document answer described by `description`.
fn problem(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content)
        .build()
        .into()
}

macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? })*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$(($status.to_owned(), problem($description))),+])
            }
        }
    )*};
}

problem_responses! {
    /// What [`JsonBody`](crate::extract::JsonBody) refuses. A route whose 400 means more
    /// lists its own 400 after this group.
    JsonBodyRefused {
        "400" => "Body is not valid JSON",
        "413" => "Body over MAX_BODY_BYTES",
        "415" => "Body is not application/json",
    }
    /// What [`AuthenticatedUser`](crate::extract::AuthenticatedUser) refuses.
    BearerRefused {
        "401" => "Missing, invalid, expired or revoked access token",
        "403" => "`Inactive user`",
    }
    /// What [`Superuser`](crate::extract::Superuser) refuses.
    SuperuserRefused {
        "401" => "Missing, invalid, expired or revoked access token",
        "403" => "`Not enough privileges`, or `Inactive user`",
    }
    /// What [`SuperuserChange`](crate::extract::SuperuserChange) refuses.
    SuperuserChangeRefused {
        "401" => "Missing, invalid, expired or revoked access token",
        "403" => "`Not enough privileges`, `Stronger authentication required` (the administrator's own account has a second factor the token's login skipped), or `Inactive user`",
    }
    /// The per-network budget of [`IpThrottled`](crate::extract::IpThrottled).
    NetworkLimited {
        "429" => "Too many requests from this client network; see Retry-After",
    }
    /// The per-network budget and the per-account back-off of a password check.
    PasswordLimited {
        "429" => "Too many attempts from this client network, or for this account from it (back-off); see Retry-After",
    }
    /// An admin route's account id.
    UnknownUser {
        "404" => "`User not found`",
        "422" => "The id is not a UUID",
    }
    /// The database does not answer in time.
    DatabaseDown {
        "503" => "Database unreachable",
    }
}
