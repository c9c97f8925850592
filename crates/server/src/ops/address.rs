//! What counts as "one client address" for per-address limits (connections per listener, HLS viewers,
//! `push_refused` webhooks), and the count of open connections per address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

/// The address a per-address limit counts `ip` under: an IPv4 address as it is (an IPv4-mapped IPv6 address as
/// its IPv4 one), an IPv6 address as its /64 network. One IPv6 subscriber gets a whole /64 and can pick any
/// address in it, so counting single IPv6 addresses would bound nothing; a /64 is one site, like one NATed IPv4.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// Open connections per client address ([`address_key`]) on one listener, bounded by
/// `max_connections_per_address`. A place is held by a [`AddressPlace`] and given back when it is dropped.
#[derive(Debug)]
pub(crate) struct AddressCounts {
    /// Most connections one address may hold; 0 is no bound.
    max: usize,
    /// Addresses with at least one open connection (an address is removed when its last one closes, so the map
    /// is never larger than the listener's connections).
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressCounts {
    /// Counts with at most `max` connections per address (0: unbounded).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `ip`, or `None` when its address already holds `max`.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<AddressPlace> {
        if self.max == 0 {
            return Some(AddressPlace {
                counts: None,
                key: ip,
            });
        }
        let key = address_key(ip);
        let mut open = self.open.lock();
        let n = open.entry(key).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressPlace {
            counts: Some(self.clone()),
            key,
        })
    }

    /// Open connections counted for `ip`'s address.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        self.open.lock().get(&address_key(ip)).copied().unwrap_or(0)
    }
}

/// One connection's place among its address's; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct AddressPlace {
    /// `None` when the listener counts nothing (no bound).
    counts: Option<Arc<AddressCounts>>,
    key: IpAddr,
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        let Some(counts) = &self.counts else {
            return;
        };
        let mut open = counts.open.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn places_per_address_are_bounded_and_given_back() {
        let counts = AddressCounts::new(2);
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8:1:2::9".parse().unwrap();
        let first = counts.enter(a).unwrap();
        let _second = counts.enter(a).unwrap();
        assert!(counts.enter(a).is_none(), "a third from one address");
        let _b1 = counts.enter(b).unwrap();
        let _b2 = counts.enter(b_same_64).unwrap();
        assert!(counts.enter(b).is_none(), "one IPv6 /64 is one address");
        drop(first);
        assert_eq!(counts.open(a), 1);
        let _again = counts.enter(a).expect("a place was given back");
        let unbounded = AddressCounts::new(0);
        let places: Vec<_> = (0..1000).map(|_| unbounded.enter(a).unwrap()).collect();
        assert_eq!(unbounded.open(a), 0, "0 counts nothing");
        drop(places);
    }
}
