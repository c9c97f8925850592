//! Listen addresses as people write them: `IP:PORT`, `[IPv6]:PORT`, `HOST:PORT` (resolved, e.g. `localhost:0`)
//! and `:PORT` (every interface, as `0.0.0.0:PORT`). One parser for the TOML settings and the command line, with
//! errors that say what is wrong rather than "invalid socket address syntax".

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// Parses a listen address; the error names the value and what is wrong with it.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let s = text.trim();
    let fail = |why: String| {
        Err(format!(
            "invalid address {text:?}: {why} (expected IP:PORT, HOST:PORT or :PORT, e.g. 0.0.0.0:1935, \
             localhost:8080 or :1935)"
        ))
    };
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return fail("no port".to_string());
    };
    let port = match port.parse::<u64>() {
        Ok(p) => match u16::try_from(p) {
            Ok(p) => p,
            Err(_) => return fail(format!("port {p} is out of range 0-65535")),
        },
        Err(_) if port.is_empty() => return fail("no port after ':'".to_string()),
        Err(_) => return fail(format!("port {port:?} is not a number")),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if host.contains(':') {
        return fail(format!(
            "{host:?} is not an IP address (write IPv6 as [IP]:PORT)"
        ));
    }
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            // IPv4 first: `localhost` then binds where IPv4-only clients reach it.
            match addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
                Some(a) => Ok(*a),
                None => fail(format!("host {host:?} has no address")),
            }
        }
        Err(e) => fail(format!("cannot resolve host {host:?}: {e}")),
    }
}

/// `deserialize_with` for a listen address in the TOML settings.
pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse_listen_addr(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::parse_listen_addr;
    use std::net::SocketAddr;

    fn ok(s: &str) -> SocketAddr {
        parse_listen_addr(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_usual_spellings_parse() {
        assert_eq!(ok("127.0.0.1:1935"), "127.0.0.1:1935".parse().unwrap());
        assert_eq!(ok("[::1]:8080"), "[::1]:8080".parse().unwrap());
        assert_eq!(ok(":1935"), "0.0.0.0:1935".parse().unwrap());
        assert_eq!(ok(" :0 "), "0.0.0.0:0".parse().unwrap());
        let local = ok("localhost:0");
        assert!(local.ip().is_loopback() && local.port() == 0, "{local}");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = parse_listen_addr("127.0.0.1:99999").unwrap_err();
        assert!(e.contains("port 99999 is out of range 0-65535"), "{e}");
        let e = parse_listen_addr(":70000").unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = parse_listen_addr("127.0.0.1").unwrap_err();
        assert!(e.contains("no port"), "{e}");
        let e = parse_listen_addr("127.0.0.1:http").unwrap_err();
        assert!(e.contains("not a number"), "{e}");
        let e = parse_listen_addr("no-such-host.invalid:80").unwrap_err();
        assert!(e.contains("cannot resolve host"), "{e}");
        assert!(!e.contains("invalid socket address syntax"), "{e}");
    }
}
