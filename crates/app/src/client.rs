//! Who a flow serves: what the HTTP layer learned of the client, and nothing of HTTP.

use gatehouse_domain::{AuditContext, ClientNetwork};

/// Longest `User-Agent` kept with a session.
const USER_AGENT_MAX_CHARS: usize = 512;

/// The client a flow acts for: its address, agent and request id (as audit events record
/// them) and its network (the unit of the password back-off).
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// What audit events record of the request.
    pub audit: AuditContext,
    /// The client's network (an IPv4 address or an IPv6 /64); `None` when unknown.
    pub network: Option<ClientNetwork>,
}

impl Client {
    /// The agent a new session keeps: the `User-Agent`, cut to its first 512 characters.
    pub(crate) fn session_agent(&self) -> Option<String> {
        self.audit
            .user_agent
            .as_deref()
            .map(|agent| agent.chars().take(USER_AGENT_MAX_CHARS).collect())
    }
}
