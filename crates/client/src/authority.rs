//! The `host[:port]` part of the URLs the client takes (rtmp:// and http://).

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port` into the host (brackets removed) and the port, `default_port`
/// when none is given. Errors say what is wrong, for the URL error that names the URL.
pub(crate) fn split(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    if authority.contains('@') {
        return Err("user info (user@host) is not supported".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "unterminated [IPv6] host".to_string())?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("unexpected {after:?} after the IPv6 host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
        None => default_port,
    };
    Ok((host.to_string(), port))
}
