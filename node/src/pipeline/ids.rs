//! Random ids as lowercase hex, written without the formatting machinery: one is made for
//! every request (the request id) and two for every integration call (trace context), and
//! `format!("{:032x}")` showed up in profiles of the proxy path.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The low `N * 4` bits of `value` as exactly `N` lowercase hex digits.
pub fn hex<const N: usize>(mut value: u128) -> [u8; N] {
    let mut out = [b'0'; N];
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
    out
}

/// 128 random bits as 32 hex digits.
pub fn request_id() -> String {
    let digits = hex::<32>(rand::random());
    std::str::from_utf8(&digits).expect("hex digits").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_the_formatter_at_every_width() {
        for value in [
            0,
            1,
            0xabc,
            u64::MAX as u128,
            u128::MAX,
            0x0123_4567_89ab_cdef << 64,
        ] {
            assert_eq!(hex::<32>(value), *format!("{value:032x}").as_bytes());
            let low = value as u64;
            assert_eq!(hex::<16>(value), *format!("{low:016x}").as_bytes());
        }
    }

    #[test]
    fn request_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| DIGITS.contains(&c)));
        assert_ne!(a, b);
    }
}
