//! The network a client sends from, as limits and back-offs count it.

use std::net::{IpAddr, Ipv6Addr};

/// A client's network: an IPv4 address, or the /64 of an IPv6 address.
///
/// An IPv6 host is usually handed a whole /64 and can pick a new address in it for every
/// request, so counting per address would let it escape any limit; a /64 is what one site
/// gets. An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) is that IPv4 client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNetwork(IpAddr);

impl ClientNetwork {
    /// The network `ip` belongs to.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & (u128::MAX << 64);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientNetwork {
    /// `192.0.2.1`, or `2001:db8:1:2::/64`: at most 43 characters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(raw: &str) -> String {
        ClientNetwork::of(raw.parse().expect("an address")).to_string()
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_ipv4_by_the_address() {
        assert_eq!(network("2001:db8:1:2:abcd::9"), "2001:db8:1:2::/64");
        assert_eq!(network("2001:db8:1:2::1"), network("2001:db8:1:2:ffff::1"));
        assert_ne!(network("2001:db8:1:2::1"), network("2001:db8:1:3::1"));
        assert_eq!(network("192.0.2.1"), "192.0.2.1");
        assert_eq!(network("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(
            network("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "ffff:ffff:ffff:ffff::/64"
        );
    }
}
