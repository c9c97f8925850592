//! Random ids, keys and tokens.

use rand::RngCore;

/// `bytes` random bytes from the thread's CSPRNG (seeded by the OS) as lowercase hex.
pub(crate) fn hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    to_hex(&buf)
}

/// `bytes` as lowercase hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// A new app id: `app_` and 16 hex digits.
pub(crate) fn app_id() -> String {
    format!("app_{}", hex(8))
}

/// A new key: 32 hex digits (128 bits).
pub(crate) fn key() -> String {
    hex(16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let id = super::app_id();
        assert!(id.starts_with("app_") && id.len() == 20, "{id}");
        let k = super::key();
        assert_eq!(k.len(), 32);
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(super::key(), k);
        assert_eq!(super::to_hex(&[0, 0xab, 0xff]), "00abff");
    }
}
