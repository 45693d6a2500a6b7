//! Tests of `validate`: RFC 9113 §8.2–§8.3 field and block rules.

use super::BlockKind::*;
use super::Malformed::*;
use super::*;

fn check(kind: BlockKind, fields: &[(&str, &str)]) -> Result<CheckedBlock, Malformed> {
    check_block(
        kind,
        fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
    )
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "a.example"),
    (":path", "/"),
];

fn with(
    base: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    base.iter().chain(extra).copied().collect()
}

#[test]
fn valid_request_response_and_trailers() {
    let req = check(
        Request,
        &with(&GET, &[("user-agent", "t"), ("te", "Trailers")]),
    )
    .unwrap();
    assert_eq!(req.pseudo.get(Pseudo::Method), Some(0));
    assert_eq!(req.pseudo.get(Pseudo::Path), Some(3));
    assert_eq!(req.pseudo.get(Pseudo::Status), None);
    assert_eq!(req.first_regular, 4);
    let res = check(Response, &[(":status", "204"), ("content-length", "0")]).unwrap();
    assert_eq!(res.status, Some(204));
    assert_eq!(res.content_length, Some(0));
    assert!(check(Trailers, &[("grpc-status", "0")]).is_ok());
    assert!(check(Trailers, &[]).is_ok());
    let connect = check(Request, &[(":method", "CONNECT"), (":authority", "a:443")]).unwrap();
    assert!(connect.is_connect);
    // §8.3.1: host must name the :authority's entity, after
    // scheme-based normalization; host alone is fine.
    assert!(check(Request, &with(&GET, &[("host", "A.Example:443")])).is_ok());
    let host_only = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/"),
        ("host", "b.example"),
    ];
    assert!(check(Request, &host_only).is_ok());
    // The same host twice (after normalization) is no conflict.
    let [m, s, p, h] = host_only;
    assert!(check(Request, &[m, s, p, h, ("host", "B.example:443")]).is_ok());
    // No :authority is allowed (§8.3.1 says SHOULD for origin-form).
    assert!(
        check(
            Request,
            &[(":method", "GET"), (":scheme", "http"), (":path", "*")]
        )
        .is_ok()
    );
}

#[test]
fn every_malformed_case_gives_its_reason() {
    type Case = (
        &'static str,
        BlockKind,
        Vec<(&'static str, &'static str)>,
        Malformed,
    );
    let cases: Vec<Case> = vec![
        (
            "§8.2.1 uppercase name",
            Request,
            with(&GET, &[("User-Agent", "x")]),
            UppercaseName,
        ),
        (
            "§8.2.1 empty name",
            Request,
            with(&GET, &[("", "x")]),
            EmptyName,
        ),
        (
            "§8.2.1 space in name",
            Request,
            with(&GET, &[("a b", "x")]),
            InvalidName,
        ),
        (
            "§8.2.1 colon in name",
            Request,
            with(&GET, &[("a:b", "x")]),
            InvalidName,
        ),
        (
            "§8.2.1 non-ASCII name",
            Request,
            with(&GET, &[("caf\u{e9}", "x")]),
            InvalidName,
        ),
        (
            "§8.2.1 DEL in name",
            Request,
            with(&GET, &[("a\u{7f}", "x")]),
            InvalidName,
        ),
        (
            "§8.2.1 NUL in value",
            Request,
            with(&GET, &[("a", "x\0y")]),
            InvalidValue,
        ),
        (
            "§8.2.1 CR in value",
            Request,
            with(&GET, &[("a", "x\ry")]),
            InvalidValue,
        ),
        (
            "§8.2.1 LF in value",
            Request,
            with(&GET, &[("a", "x\ny")]),
            InvalidValue,
        ),
        (
            "§8.2.1 leading space",
            Request,
            with(&GET, &[("a", " x")]),
            ValueWhitespace,
        ),
        (
            "§8.2.1 trailing tab",
            Request,
            with(&GET, &[("a", "x\t")]),
            ValueWhitespace,
        ),
        (
            "§8.2.2 connection",
            Request,
            with(&GET, &[("connection", "close")]),
            ConnectionSpecific,
        ),
        (
            "§8.2.2 keep-alive",
            Request,
            with(&GET, &[("keep-alive", "1")]),
            ConnectionSpecific,
        ),
        (
            "§8.2.2 proxy-connection",
            Request,
            with(&GET, &[("proxy-connection", "x")]),
            ConnectionSpecific,
        ),
        (
            "§8.2.2 transfer-encoding",
            Response,
            vec![(":status", "200"), ("transfer-encoding", "chunked")],
            ConnectionSpecific,
        ),
        (
            "§8.2.2 upgrade",
            Request,
            with(&GET, &[("upgrade", "h2c")]),
            ConnectionSpecific,
        ),
        (
            "§8.2.2 te gzip",
            Request,
            with(&GET, &[("te", "gzip")]),
            InvalidTe,
        ),
        (
            "§8.3 pseudo after regular",
            Request,
            vec![
                (":method", "GET"),
                ("a", "b"),
                (":scheme", "http"),
                (":path", "/"),
            ],
            PseudoAfterRegular,
        ),
        (
            "§8.3 unknown pseudo",
            Request,
            with(&GET, &[(":foo", "x")]),
            UnexpectedPseudo,
        ),
        (
            "§8.3 :protocol without extended CONNECT",
            Request,
            with(&GET, &[(":protocol", "websocket")]),
            UnexpectedPseudo,
        ),
        (
            "§8.3 response pseudo in request",
            Request,
            with(&GET, &[(":status", "200")]),
            UnexpectedPseudo,
        ),
        (
            "§8.3 request pseudo in response",
            Response,
            vec![(":status", "200"), (":path", "/")],
            UnexpectedPseudo,
        ),
        (
            "§8.1 pseudo in trailers",
            Trailers,
            vec![(":status", "200")],
            UnexpectedPseudo,
        ),
        (
            "§8.3.1 host names another authority",
            Request,
            with(&GET, &[("host", "b.example")]),
            HostMismatch,
        ),
        (
            "§8.3.1 host with another port",
            Request,
            with(&GET, &[("host", "a.example:8443")]),
            HostMismatch,
        ),
        (
            "§8.3.1 second host names another authority",
            Request,
            with(&GET, &[("host", "a.example"), ("host", "b.example")]),
            HostMismatch,
        ),
        (
            "RFC 9110 §7.2 host with userinfo",
            Request,
            with(&GET, &[("host", "evil@a.example")]),
            HostWithUserinfo,
        ),
        (
            "RFC 9110 §7.2 host with userinfo, no :authority",
            Request,
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("host", "x@a.example"),
            ],
            HostWithUserinfo,
        ),
        (
            "RFC 9110 §7.2 two host fields that differ, no :authority",
            Request,
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("host", "a.example"),
                ("host", "b.example"),
            ],
            HostMismatch,
        ),
        (
            "§8.3.1 duplicate :path",
            Request,
            vec![
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":path", "/x"),
            ],
            DuplicatePseudo,
        ),
        (
            "§8.3.2 duplicate :status",
            Response,
            vec![(":status", "200"), (":status", "200")],
            DuplicatePseudo,
        ),
        (
            "§8.3.1 missing :method",
            Request,
            vec![(":scheme", "http"), (":path", "/")],
            MissingPseudo(":method"),
        ),
        (
            "§8.3.1 missing :scheme",
            Request,
            vec![(":method", "GET"), (":path", "/")],
            MissingPseudo(":scheme"),
        ),
        (
            "§8.3.1 missing :path",
            Request,
            vec![(":method", "GET"), (":scheme", "http")],
            MissingPseudo(":path"),
        ),
        (
            "§8.3.1 empty :path",
            Request,
            vec![(":method", "GET"), (":scheme", "http"), (":path", "")],
            EmptyPath,
        ),
        (
            "§8.3.2 missing :status",
            Response,
            vec![("server", "x")],
            MissingPseudo(":status"),
        ),
        (
            "§8.3.2 two-digit :status",
            Response,
            vec![(":status", "20")],
            InvalidStatus,
        ),
        (
            "§8.3.2 non-digit :status",
            Response,
            vec![(":status", "2x0")],
            InvalidStatus,
        ),
        (
            "§8.3.2 :status 099",
            Response,
            vec![(":status", "099")],
            InvalidStatus,
        ),
        (
            "§8.5 CONNECT with :path",
            Request,
            vec![
                (":method", "CONNECT"),
                (":authority", "a:1"),
                (":path", "/"),
            ],
            ConnectWithPath,
        ),
        (
            "§8.5 CONNECT without :authority",
            Request,
            vec![(":method", "CONNECT")],
            MissingPseudo(":authority"),
        ),
        (
            "§8.5 CONNECT to an empty :authority",
            Request,
            vec![(":method", "CONNECT"), (":authority", "")],
            ConnectWithoutHost,
        ),
        (
            "content-length not a number",
            Request,
            with(&GET, &[("content-length", "1x")]),
            InvalidContentLength,
        ),
        (
            "content-length empty",
            Request,
            with(&GET, &[("content-length", "")]),
            InvalidContentLength,
        ),
        (
            "content-length overflow",
            Request,
            with(&GET, &[("content-length", "99999999999999999999")]),
            InvalidContentLength,
        ),
        (
            "content-length disagree",
            Request,
            with(&GET, &[("content-length", "1"), ("content-length", "2")]),
            InvalidContentLength,
        ),
    ];
    for (name, kind, fields, want) in cases {
        assert_eq!(check(kind, &fields), Err(want), "{name}");
    }
}

#[test]
fn body_length_is_checked_against_content_length() {
    let mut b = BodyLength::new(Some(10));
    assert_eq!(b.data(4), Ok(()));
    assert_eq!(b.end(), Err(ContentLengthMismatch));
    assert_eq!(b.data(6), Ok(()));
    assert_eq!(b.end(), Ok(()));
    assert_eq!(b.data(1), Err(ContentLengthMismatch));
    let mut any = BodyLength::new(None);
    assert_eq!(any.data(usize::MAX), Ok(()));
    assert_eq!(any.end(), Ok(()));
}

/// The word-at-a-time checks agree with the byte rules for every byte
/// value at every position of names and values up to 17 bytes long
/// (two full words and a padded tail).
#[test]
fn word_checks_agree_with_the_byte_rules() {
    for len in 1..=17 {
        for at in 0..len {
            for b in 0u8..=255 {
                let mut s = vec![b'x'; len];
                s[at] = b;
                let name_ok = !(b <= 0x20 || b.is_ascii_uppercase() || b >= 0x7f || b == b':');
                assert_eq!(
                    check_name(&s).is_ok(),
                    name_ok,
                    "name byte {b:#x} at {at}/{len}"
                );
                let value_ok = !matches!(b, 0 | b'\r' | b'\n');
                let whitespace_edge = matches!(b, b' ' | b'\t') && (at == 0 || at == len - 1);
                let want = if !value_ok {
                    Err(InvalidValue)
                } else if whitespace_edge {
                    Err(ValueWhitespace)
                } else {
                    Ok(())
                };
                assert_eq!(check_value(&s), want, "value byte {b:#x} at {at}/{len}");
            }
        }
    }
    assert_eq!(check_value(b""), Ok(()));
    assert_eq!(check_name(b"a\x80b\xff"), Err(InvalidName));
    assert_eq!(check_name(b"\xffA"), Err(UppercaseName));
}

#[test]
fn name_table_matches_the_rfc_ranges() {
    for b in 0u8..=255 {
        let forbidden = b <= 0x20 || (0x41..=0x5a).contains(&b) || b >= 0x7f || b == b':';
        assert_eq!(NAME_BYTE[usize::from(b)], !forbidden, "byte {b:#x}");
    }
}

proptest::proptest! {
    /// `field_bytes_valid` says yes exactly when the block check finds no
    /// fault in a regular field's bytes: the decoder's note stands in for
    /// those reads, so the two must never disagree.
    #[test]
    fn field_bytes_valid_agrees_with_the_block_check(
        name in proptest::collection::vec(proptest::sample::select(
            b"aZ-:_ \t\r\n\0\x7f\x80ce".to_vec()), 0..12),
        value in proptest::collection::vec(proptest::sample::select(
            b"a -\t\r\n\0\x7f\x80:".to_vec()), 0..12),
    ) {
        proptest::prop_assume!(name.first() != Some(&b':'));
        let byte_fault = matches!(
            check_block(Trailers, [(&name[..], &value[..])]),
            Err(EmptyName | UppercaseName | InvalidName | InvalidValue | ValueWhitespace)
        );
        proptest::prop_assert_eq!(field_bytes_valid(&name, &value), !byte_fault);
    }

    /// A field known valid is checked for the block rules all the same.
    #[test]
    fn known_valid_fields_still_meet_the_block_rules(known in proptest::num::u64::ANY) {
        let fields = [
            crate::hpack::HeaderField::new(":status", "200"),
            crate::hpack::HeaderField::new("connection", "close"),
        ];
        proptest::prop_assert_eq!(
            check_decoded_block(Response, &fields, known).map(|_| ()),
            Err(ConnectionSpecific)
        );
    }
}

/// The decoder takes every static table entry as passing the check it is
/// given (`Decoder::note_valid_entries`) without calling it: they must.
#[test]
fn every_static_table_entry_passes_the_field_byte_rules() {
    let mut decoder = crate::hpack::Decoder::new(4096);
    let block = bytes::Bytes::from((1..=61u8).map(|i| 0x80 | i).collect::<Vec<_>>());
    let mut fields = Vec::new();
    decoder.decode(&block, &mut fields).unwrap();
    assert_eq!(fields.len(), 61);
    for f in &fields {
        assert!(field_bytes_valid(&f.name, &f.value), "{f:?}");
    }
}

/// Fields built from `http`'s types skip the byte scan, not the rules: a
/// value's edges are still read (`http` allows whitespace there), and the
/// block rules (connection-specific fields, pseudo-header fields) hold.
#[test]
fn built_fields_skip_only_the_byte_scan() {
    use crate::hpack::HeaderField;
    let built = |fields: &[(&'static str, &'static str)]| {
        let fields: Vec<HeaderField> = fields
            .iter()
            .map(|(n, v)| HeaderField::new(*n, *v))
            .collect();
        check_outgoing(Response, &fields, FieldOrigin::Built)
    };
    assert!(built(&[(":status", "200"), ("content-type", "text/plain")]).is_ok());
    assert_eq!(
        built(&[(":status", "200"), ("x-a", " 1")]).unwrap_err(),
        ValueWhitespace
    );
    assert_eq!(
        built(&[(":status", "200"), ("x-a", "1\t")]).unwrap_err(),
        ValueWhitespace
    );
    assert_eq!(
        built(&[(":status", "200"), ("connection", "close")]).unwrap_err(),
        ConnectionSpecific
    );
    assert_eq!(
        built(&[("x-a", "1")]).unwrap_err(),
        MissingPseudo(":status")
    );
    assert_eq!(built(&[(":status", "20")]).unwrap_err(), InvalidStatus);
    // Pseudo-header fields are read whole: an `:authority` may come from a
    // configured string, not from `http`'s types.
    let request = |authority: &'static str| {
        let fields: Vec<HeaderField> = [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority),
            (":path", "/"),
        ]
        .iter()
        .map(|(n, v)| HeaderField::new(*n, *v))
        .collect();
        check_outgoing(Request, &fields, FieldOrigin::Built)
    };
    assert!(request("a.example").is_ok());
    assert_eq!(request("a.example\r\nx-evil: 1").unwrap_err(), InvalidValue);
    // Any origin reads every byte.
    let any = vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("x-a", "a\r\nb"),
    ];
    assert_eq!(
        check_outgoing(Response, &any, FieldOrigin::Any).unwrap_err(),
        InvalidValue
    );
}
