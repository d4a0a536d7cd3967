//! Parser and printer tests, including the mutation fuzzer: random mutations of valid literals
//! either parse to exactly what an independent reference parser gives, or fail with a typed
//! error, and never panic.
use super::*;
use proptest::prelude::*;

fn kind(r: Result<Vec<f32>, VecxError>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind)
}

#[test]
fn accepts_pgvector_syntax() {
    assert_eq!(parse("[1,2.5,-3e-2]").unwrap(), vec![1.0, 2.5, -0.03]);
    assert_eq!(parse("  [ 1 , 2 ,3 ]  ").unwrap(), vec![1.0, 2.0, 3.0]);
    assert_eq!(parse("[\t.5,+4E+1\n]").unwrap(), vec![0.5, 40.0]);
    assert_eq!(parse("[-0]").unwrap()[0].to_bits(), (-0.0f32).to_bits());
    assert_eq!(parse("[1e-40]").unwrap(), vec![1e-40]); // subnormal, not zero: accepted
}

#[test]
fn rejects_with_the_right_kind() {
    use ErrorKind::*;
    assert_eq!(kind(parse("")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("1,2")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[1,2")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[1,,2]")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[1,2,]")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[1 2]")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[1,2]x")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[1,2]]")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[a]")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[0x10]")), Some(InvalidTextRepresentation));
    assert_eq!(kind(parse("[]")), Some(DataException));
    assert_eq!(kind(parse("[ ]")), Some(DataException));
    assert_eq!(kind(parse("[NaN]")), Some(DataException));
    assert_eq!(kind(parse("[inf]")), Some(DataException));
    assert_eq!(kind(parse("[-Infinity]")), Some(DataException));
    assert_eq!(kind(parse("[1e39]")), Some(NumericValueOutOfRange));
    assert_eq!(kind(parse("[-1e39]")), Some(NumericValueOutOfRange));
    assert_eq!(kind(parse("[1e-50]")), Some(NumericValueOutOfRange));
    let big = format!("[{}]", vec!["1"; MAX_DIM + 1].join(","));
    assert_eq!(kind(parse(&big)), Some(ProgramLimitExceeded));
    let max = format!("[{}]", vec!["1"; MAX_DIM].join(","));
    assert_eq!(parse(&max).unwrap().len(), MAX_DIM);
}

#[test]
fn messages_name_the_problem() {
    let e = parse("[1,2]x").unwrap_err();
    assert_eq!(e.message, "malformed vecx literal: \"[1,2]x\"");
    assert_eq!(
        e.detail.as_deref(),
        Some("Junk after closing right bracket.")
    );
    assert_eq!(
        parse("[abc]").unwrap_err().message,
        "invalid input syntax for type vecx: \"abc\""
    );
    assert_eq!(
        parse("[1e39]").unwrap_err().message,
        "\"1e39\" is out of range for type vecx"
    );
    assert_eq!(
        parse("[NaN]").unwrap_err().message,
        "NaN not allowed in vecx"
    );
}

#[test]
fn prints_like_float4out() {
    let cases: &[(f32, &str)] = &[
        (1.0, "1"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e30, "1e+30"),
        (-1.5e-7, "-1.5e-07"),
        (f32::MAX, "3.4028235e+38"),
        (f32::MIN_POSITIVE, "1.1754944e-38"),
        (1e-45, "1e-45"),
        (0.0, "0"),
        (-0.0, "-0"),
        (100.0, "100"),
        (3.1415927, "3.1415927"),
        // Rust's shortest form is 5.465687e7, exactly on the rounding boundary: PostgreSQL
        // never prints a boundary value, so one more digit.
        (54656872.0, "5.4656872e+07"),
        // 2146807.25 is exactly between 2146807.2 and 2146807.3: ties go to even.
        (2146807.25, "2.1468072e+06"),
    ];
    for (v, want) in cases {
        let mut s = String::new();
        write_element(&mut s, *v);
        assert_eq!(&s, want, "printing {v:e}");
    }
    assert_eq!(format(&[1.0, 2.5, -0.03]), "[1,2.5,-0.03]");
}

/// An independent reference parser: split on the structure first, then parse each piece.
fn reference(input: &str) -> Option<Vec<f32>> {
    let t = input.trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    if inner.contains(']') || inner.contains('[') {
        return None;
    }
    let mut out = Vec::new();
    for piece in inner.split(',') {
        let p = piece.trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if p.is_empty() || p.bytes().any(is_space) {
            return None;
        }
        let v: f32 = p.parse().ok()?;
        if !v.is_finite() {
            return None;
        }
        let nonzero = p
            .bytes()
            .take_while(|b| !matches!(b, b'e' | b'E'))
            .any(|b| matches!(b, b'1'..=b'9'));
        if v == 0.0 && nonzero {
            return None;
        }
        out.push(v);
    }
    if out.is_empty() || out.len() > MAX_DIM {
        return None;
    }
    Some(out)
}

fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Values that print and parse back unchanged.
#[test]
fn round_trip_exhaustive_sample() {
    let mut x = 1u32;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        let v = f32::from_bits(x);
        if !v.is_finite() {
            continue;
        }
        let s = format(&[v]);
        let back = parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(back[0].to_bits(), v.to_bits(), "{s}");
    }
}

const ALPHABET: &[u8] = b"[], \t\n0123456789.-+eEinfaINFAxX\x0b\x0c\xff";

fn mutate(base: String, ops: Vec<(u8, usize, u8)>) -> String {
    let mut bytes = base.into_bytes();
    for (op, pos, ch) in ops {
        let c = ALPHABET[ch as usize % ALPHABET.len()];
        let p = if bytes.is_empty() {
            0
        } else {
            pos % (bytes.len() + 1)
        };
        match op % 4 {
            0 => bytes.insert(p, c),
            1 if p < bytes.len() => {
                bytes.remove(p);
            }
            2 if p < bytes.len() => bytes[p] = c,
            3 if p < bytes.len() => {
                let q = (p + ch as usize) % bytes.len();
                bytes.swap(p, q)
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// The mutation fuzzer.
    #[test]
    fn mutations_agree_with_reference(
        values in prop::collection::vec(prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL, 1..12),
        ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 0..6),
    ) {
        let input = mutate(format(&values), ops);
        match (parse(&input), reference(&input)) {
            (Ok(a), Some(b)) => prop_assert!(same(&a, &b), "{input:?}: {a:?} vs {b:?}"),
            (Ok(a), None) => prop_assert!(false, "{input:?}: parser accepted {a:?}, reference rejected"),
            (Err(e), Some(b)) => prop_assert!(false, "{input:?}: parser rejected ({e}), reference gave {b:?}"),
            (Err(_), None) => {}
        }
    }

    /// Arbitrary strings never panic.
    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,64}") {
        let _ = parse(&s);
    }

    /// Printing then parsing is the identity on every finite float.
    #[test]
    fn print_parse_round_trip(values in prop::collection::vec(any::<f32>().prop_filter("finite", |v| v.is_finite()), 1..64)) {
        let back = parse(&format(&values)).unwrap();
        prop_assert!(same(&back, &values));
    }
}
