//! Prefixed integers (RFC 7541 §5.1) and string literals (§5.2) on the wire.

use super::error::DecoderError;
use super::huffman;

/// Decodes a prefixed integer with a `prefix`-bit prefix starting at
/// `buf[*pos]`, advancing `*pos` past it.
///
/// Values above `u32::MAX`, and encodings longer than the 5 continuation bytes
/// any 32-bit value needs, are [`DecoderError::IntegerOverflow`]; running out
/// of bytes is [`DecoderError::TruncatedInteger`].
#[inline]
pub(crate) fn decode_int(buf: &[u8], pos: &mut usize, prefix: u32) -> Result<u32, DecoderError> {
    let mask = (1u32 << prefix) - 1;
    let first = u32::from(*buf.get(*pos).ok_or(DecoderError::TruncatedInteger)?) & mask;
    *pos += 1;
    if first < mask {
        return Ok(first);
    }
    let mut value = u64::from(mask);
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos).ok_or(DecoderError::TruncatedInteger)?;
        *pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(DecoderError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(value as u32);
        }
        shift += 7;
        if shift > 28 {
            return Err(DecoderError::IntegerOverflow);
        }
    }
}

/// Appends `value` as a prefixed integer: the first byte is `flags` (the
/// representation's pattern bits above the prefix) or'ed with the prefix.
/// (Into a `Vec`: a push is a store, where a `BytesMut` byte was a call.)
#[inline]
pub(crate) fn encode_int(dst: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        dst.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// Appends a string literal, Huffman-encoded only if that is strictly shorter.
#[inline]
pub(crate) fn encode_string(dst: &mut Vec<u8>, s: &[u8]) {
    let hlen = huffman::encoded_len(s);
    if hlen < s.len() {
        encode_int(dst, 0x80, 7, hlen);
        huffman::encode(s, hlen, dst);
    } else {
        encode_int(dst, 0, 7, s.len());
        dst.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(prefix: u32, v: usize) -> Vec<u8> {
        let mut b = Vec::new();
        encode_int(&mut b, 0, prefix, v);
        b
    }

    #[test]
    fn rfc_c1_examples() {
        assert_eq!(enc(5, 10), [10]);
        assert_eq!(enc(5, 1337), [31, 154, 10]);
        assert_eq!(enc(8, 42), [42]);
        let mut pos = 0;
        assert_eq!(decode_int(&[31, 154, 10], &mut pos, 5), Ok(1337));
        assert_eq!(pos, 3);
    }

    #[test]
    fn integer_round_trip_and_limits() {
        for prefix in 1..=8 {
            for v in [
                0usize,
                1,
                30,
                31,
                127,
                128,
                255,
                256,
                16383,
                1 << 21,
                u32::MAX as usize,
            ] {
                let bytes = enc(prefix, v);
                let mut pos = 0;
                assert_eq!(decode_int(&bytes, &mut pos, prefix), Ok(v as u32));
                assert_eq!(pos, bytes.len());
                // Every strict prefix is truncated.
                for cut in 0..bytes.len() {
                    let mut pos = 0;
                    assert_eq!(
                        decode_int(&bytes[..cut], &mut pos, prefix),
                        Err(DecoderError::TruncatedInteger)
                    );
                }
            }
            let bytes = enc(prefix, u32::MAX as usize + 1);
            assert_eq!(
                decode_int(&bytes, &mut 0, prefix),
                Err(DecoderError::IntegerOverflow)
            );
        }
        // Zero continuation bytes forever are an overflow, not a hang.
        let mut long = vec![0x1f];
        long.extend(std::iter::repeat_n(0x80, 10));
        assert_eq!(
            decode_int(&long, &mut 0, 5),
            Err(DecoderError::IntegerOverflow)
        );
    }
}
