//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! The code of Appendix B is *canonical*: within one code length, codes are
//! consecutive in symbol order, and each longer length continues from the
//! shorter ones. So the whole code follows from the 257 code lengths in
//! [`CODE_LENGTHS`]; everything else (the codes, the decode state machine) is
//! computed from them at compile time by `const fn`s, and checked against the
//! RFC's examples by the unit tests below.
//!
//! Decoding is a byte-at-a-time state machine: a state is an internal node of
//! the code tree (there are exactly 256), and one lookup in [`DECODE`] with
//! `(state, input byte)` gives the next state and the zero, one or two symbols
//! completed by those 8 bits. That is one table read per input byte, with no
//! per-bit loop.

use bytes::BytesMut;

use super::error::DecoderError;

/// Code length in bits of each symbol 0..=255 and of EOS (256), from RFC 7541
/// Appendix B.
pub(crate) const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
    30, // EOS
];

/// The EOS symbol.
const EOS: usize = 256;

/// Assigns canonical codes: by increasing length, then by symbol value.
const fn build_codes() -> [u32; 257] {
    let mut codes = [0u32; 257];
    let mut code: u32 = 0;
    let mut len: u8 = 1;
    while len <= 30 {
        let mut sym = 0;
        while sym < 257 {
            if CODE_LENGTHS[sym] == len {
                codes[sym] = code;
                code += 1;
            }
            sym += 1;
        }
        // The next length continues from the next free code, one bit longer.
        code <<= 1;
        len += 1;
    }
    codes
}

/// Canonical code of each symbol, right-aligned in the low `CODE_LENGTHS[s]` bits.
pub(crate) static CODES: [u32; 257] = build_codes();

/// A node child: an internal node index, or a leaf (symbol) tagged with `LEAF`.
const LEAF: u16 = 0x8000;

/// The code tree: `tree[node][bit]` for the 256 internal nodes (node 0 = root).
const fn build_tree() -> [[u16; 2]; 256] {
    let codes = build_codes();
    // 0 marks "no child yet": the root is never anyone's child.
    let mut tree = [[0u16; 2]; 256];
    let mut next_node: u16 = 1;
    let mut sym = 0;
    while sym < 257 {
        let len = CODE_LENGTHS[sym] as u32;
        let code = codes[sym];
        let mut node = 0usize;
        let mut i = len;
        while i > 1 {
            let bit = ((code >> (i - 1)) & 1) as usize;
            if tree[node][bit] == 0 {
                tree[node][bit] = next_node;
                next_node += 1;
            }
            node = tree[node][bit] as usize;
            i -= 1;
        }
        tree[node][(code & 1) as usize] = LEAF | sym as u16;
        sym += 1;
    }
    tree
}

/// Entry layout of [`DECODE`]: bits 0..8 next state, 8..16 first symbol,
/// 16..24 second symbol, 24..26 symbol count, bit 26 "EOS decoded".
const ENTRY_FAIL: u32 = 1 << 26;

/// Builds the byte-at-a-time decode table: 256 states × 256 input bytes.
const fn build_decode() -> [u32; 65536] {
    let tree = build_tree();
    let mut table = [0u32; 65536];
    let mut state = 0usize;
    while state < 256 {
        let mut byte = 0usize;
        while byte < 256 {
            let mut node = state;
            let mut syms = [0u32; 2];
            let mut count = 0usize;
            let mut fail = false;
            let mut bit = 8;
            while bit > 0 {
                bit -= 1;
                let child = tree[node][(byte >> bit) & 1];
                if child & LEAF != 0 {
                    let sym = (child & !LEAF) as usize;
                    if sym == EOS {
                        fail = true;
                    } else if count < 2 {
                        // Codes are at least 5 bits long, so 8 bits complete at most 2.
                        syms[count] = sym as u32;
                        count += 1;
                    }
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            let mut entry = node as u32 | (syms[0] << 8) | (syms[1] << 16) | ((count as u32) << 24);
            if fail {
                entry |= ENTRY_FAIL;
            }
            table[(state << 8) | byte] = entry;
            byte += 1;
        }
        state += 1;
    }
    table
}

/// The decode state machine, see the module docs.
static DECODE: [u32; 65536] = build_decode();

/// For each state: bit 7 set if the path from the root is all ones; bits 0..7
/// its depth. A string may only end in a state whose path is all ones and at
/// most 7 bits deep (RFC 7541 §5.2).
const fn build_state_info() -> [u8; 256] {
    let tree = build_tree();
    let mut info = [0u8; 256];
    // Root: depth 0, all ones (vacuously).
    info[0] = 0x80;
    // Parents have smaller indices than children (nodes are numbered on
    // creation, walking down), so one pass in index order sees parents first.
    let mut node = 0;
    while node < 256 {
        let mut bit = 0;
        while bit < 2 {
            let child = tree[node][bit];
            if child & LEAF == 0 {
                let depth = (info[node] & 0x7f) + 1;
                let ones = info[node] & 0x80 != 0 && bit == 1;
                info[child as usize] = depth | if ones { 0x80 } else { 0 };
            }
            bit += 1;
        }
        node += 1;
    }
    info
}

static STATE_INFO: [u8; 256] = build_state_info();

/// Decodes the Huffman string `src`, appending the result to `dst`.
///
/// Errors: [`DecoderError::HuffmanEos`] if the EOS symbol occurs,
/// [`DecoderError::HuffmanPaddingTooLong`] if the string ends with more than 7
/// bits of padding, [`DecoderError::HuffmanPaddingNotOnes`] if the final bits
/// are not a prefix of EOS (all ones). On error `dst` is left as it was.
pub(crate) fn decode(src: &[u8], dst: &mut BytesMut) -> Result<(), DecoderError> {
    let start = dst.len();
    let mut state = 0usize;
    // OR of all entries: EOS is checked once at the end, not per byte (the
    // output is discarded on error anyway).
    let mut seen = 0u32;
    // Symbols go to a stack buffer first, `CHUNK` input bytes at a time: at
    // most 8/5 symbols per byte (codes are at least 5 bits) fit in 256 bytes,
    // and masking the index with 0xff lets the compiler drop bounds checks.
    const CHUNK: usize = 128;
    let mut buf = [0u8; 256];
    for chunk in src.chunks(CHUNK) {
        let mut o = 0usize;
        for &byte in chunk {
            // `state` is at most 255, so the index is below 65536: no bounds check.
            let entry = DECODE[(state << 8) | byte as usize];
            seen |= entry;
            // Both symbol slots are stored, then `o` advances by the count.
            buf[o & 0xff] = (entry >> 8) as u8;
            buf[(o + 1) & 0xff] = (entry >> 16) as u8;
            o += ((entry >> 24) & 3) as usize;
            state = (entry & 0xff) as usize;
        }
        // o <= 128 * 8 / 5 = 204 < 256.
        dst.extend_from_slice(&buf[..o.min(buf.len())]);
    }
    if seen & ENTRY_FAIL != 0 {
        dst.truncate(start);
        return Err(DecoderError::HuffmanEos);
    }
    let info = STATE_INFO[state];
    if info & 0x80 == 0 {
        dst.truncate(start);
        return Err(DecoderError::HuffmanPaddingNotOnes);
    }
    if info & 0x7f > 7 {
        dst.truncate(start);
        return Err(DecoderError::HuffmanPaddingTooLong);
    }
    Ok(())
}

/// Length in bytes of the Huffman encoding of `src`.
#[inline]
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let mut bits: usize = 0;
    for &b in src {
        bits += CODE_LENGTHS[b as usize] as usize;
    }
    bits.div_ceil(8)
}

/// Huffman-encodes `src` onto the end of `dst`; `len` must be
/// `encoded_len(src)`.
pub(crate) fn encode(src: &[u8], len: usize, dst: &mut Vec<u8>) {
    let start = dst.len();
    dst.resize(start + len, 0);
    let out = &mut dst[start..];
    // 64-bit accumulator: holds < 32 pending bits plus one code of <= 30 bits.
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut o = 0usize;
    for &b in src {
        let len = CODE_LENGTHS[b as usize] as u32;
        acc = (acc << len) | CODES[b as usize] as u64;
        bits += len;
        if bits >= 32 {
            bits -= 32;
            let word = (acc >> bits) as u32;
            // 32 complete bits exist, so 4 bytes of `out` remain (len = ceil(bits/8)).
            if let Some(slot) = out.get_mut(o..o + 4) {
                slot.copy_from_slice(&word.to_be_bytes());
            }
            o += 4;
        }
    }
    if bits > 0 {
        // Pad to a byte boundary with the most significant bits of EOS (ones).
        let pad = (8 - bits % 8) % 8;
        acc = (acc << pad) | ((1u64 << pad) - 1);
        let total = bits + pad;
        let mut shift = total;
        while shift > 0 {
            shift -= 8;
            if let Some(slot) = out.get_mut(o) {
                *slot = (acc >> shift) as u8;
            }
            o += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(src: &[u8]) -> Result<Vec<u8>, DecoderError> {
        let mut out = BytesMut::new();
        decode(src, &mut out).map(|()| out.to_vec())
    }

    fn enc(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(src, encoded_len(src), &mut out);
        out
    }

    #[test]
    fn codes_match_rfc_appendix_b_samples() {
        assert_eq!(
            (CODES[b'0' as usize], CODE_LENGTHS[b'0' as usize]),
            (0x0, 5)
        );
        assert_eq!(
            (CODES[b'a' as usize], CODE_LENGTHS[b'a' as usize]),
            (0x3, 5)
        );
        assert_eq!(
            (CODES[b' ' as usize], CODE_LENGTHS[b' ' as usize]),
            (0x14, 6)
        );
        assert_eq!((CODES[0], CODE_LENGTHS[0]), (0x1ff8, 13));
        assert_eq!((CODES[255], CODE_LENGTHS[255]), (0x3ffffee, 26));
        assert_eq!((CODES[EOS], CODE_LENGTHS[EOS]), (0x3fffffff, 30));
        // Kraft equality: a complete prefix code.
        let kraft: u64 = CODE_LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn rfc_c4_examples() {
        let www = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(enc(b"www.example.com"), www);
        assert_eq!(dec(&www).unwrap(), b"www.example.com");
        let nc = [0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf];
        assert_eq!(enc(b"no-cache"), nc);
        assert_eq!(dec(&nc).unwrap(), b"no-cache");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        assert_eq!(dec(&enc(&all)).unwrap(), all);
        for b in 0..=255u8 {
            for n in 0..12 {
                let s = vec![b; n];
                assert_eq!(dec(&enc(&s)).unwrap(), s);
            }
        }
    }

    #[test]
    fn rejects_bad_padding_and_eos() {
        assert_eq!(dec(&[0xff]), Err(DecoderError::HuffmanPaddingTooLong));
        assert_eq!(
            dec(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecoderError::HuffmanEos)
        );
        // 'a' = 00011, then 3 zero bits of padding.
        assert_eq!(dec(&[0x18]), Err(DecoderError::HuffmanPaddingNotOnes));
        // 'a' then 111: valid.
        assert_eq!(dec(&[0x1f]).unwrap(), b"a");
        // 'a' then 11 ones: 3 + 8 bits of padding.
        assert_eq!(dec(&[0x1f, 0xff]), Err(DecoderError::HuffmanPaddingTooLong));
        assert_eq!(dec(&[]).unwrap(), b"");
    }
}
