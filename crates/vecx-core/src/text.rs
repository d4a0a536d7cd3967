//! The text format, compatible with pgvector: `[1,2.5,-3e-2]`.
//!
//! Input: optional white space around the whole literal, around each element and around the
//! brackets; elements are decimal float literals (`1`, `-2.5`, `.5`, `3e-2`, `+4E+1`). Rejected,
//! each with its own [`ErrorKind`]:
//!
//! * malformed text (missing bracket, empty element, junk after `]`, a non-number): 22P02;
//! * `NaN`, `Infinity`: 22000;
//! * a literal too large for float4 (`1e39`), or a non-zero one that underflows to 0 (`1e-50`): 22003;
//! * no elements (`[]`): 22000; more than [`MAX_DIM`] elements: 54000 (detected while scanning,
//!   before a huge input is materialised).
//!
//! Output: each element is printed exactly as PostgreSQL prints a `real` (`float4out` with
//! `extra_float_digits = 1`, the default): the shortest decimal that reads back to the same
//! float32, in fixed notation when the decimal exponent is in [-4, 6) and as `1.5e+07` otherwise.
//! The regression suite compares the two on thousands of random values.

use crate::error::{ErrorKind, VecxError};
use crate::MAX_DIM;

/// PostgreSQL's notion of white space (`scanner_isspace`).
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn malformed(input: &str, detail: &str) -> VecxError {
    VecxError::new(
        ErrorKind::InvalidTextRepresentation,
        format!("malformed vecx literal: \"{}\"", shorten(input)),
    )
    .with_detail(detail.to_string())
}

/// Keeps error messages readable for multi-megabyte inputs.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Parses one element. `token` is non-empty and has no white space, `,` or `]`.
pub fn parse_element(token: &str) -> Result<f32, VecxError> {
    let value: f32 = match token.parse() {
        Ok(v) => v,
        Err(_) => {
            return Err(VecxError::new(
                ErrorKind::InvalidTextRepresentation,
                format!("invalid input syntax for type vecx: \"{}\"", shorten(token)),
            ))
        }
    };
    let literal_is_special = token
        .bytes()
        .any(|b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'));
    if !value.is_finite() {
        // `inf`/`nan` written out are bad values; a finite literal that overflowed is out of range.
        return Err(if literal_is_special {
            VecxError::not_finite(value)
        } else {
            out_of_range(token)
        });
    }
    if value == 0.0 && mantissa_has_nonzero_digit(token) {
        return Err(out_of_range(token));
    }
    Ok(value)
}

fn out_of_range(token: &str) -> VecxError {
    VecxError::new(
        ErrorKind::NumericValueOutOfRange,
        format!("\"{}\" is out of range for type vecx", shorten(token)),
    )
}

fn mantissa_has_nonzero_digit(token: &str) -> bool {
    token
        .bytes()
        .take_while(|b| !matches!(b, b'e' | b'E'))
        .any(|b| matches!(b, b'1'..=b'9'))
}

/// Parses a vecx literal. See the module documentation for the accepted grammar.
pub fn parse(input: &str) -> Result<Vec<f32>, VecxError> {
    let bytes = input.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < n && is_space(bytes[*i]) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i >= n || bytes[i] != b'[' {
        return Err(malformed(input, "Vector contents must start with \"[\"."));
    }
    i += 1;
    skip_ws(&mut i);
    let mut out: Vec<f32> = Vec::new();
    if i < n && bytes[i] == b']' {
        return Err(VecxError::empty());
    }
    loop {
        skip_ws(&mut i);
        let start = i;
        while i < n && !matches!(bytes[i], b',' | b']') && !is_space(bytes[i]) {
            i += 1;
        }
        if start == i {
            return Err(malformed(input, "An element is empty."));
        }
        // The delimiters are ASCII, so both ends are char boundaries.
        out.push(parse_element(&input[start..i])?);
        if out.len() > MAX_DIM {
            return Err(VecxError::too_many_dims(count_at_least(input, out.len())));
        }
        skip_ws(&mut i);
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b']') => {
                i += 1;
                break;
            }
            Some(_) => return Err(malformed(input, "Elements must be separated by \",\".")),
            None => return Err(malformed(input, "Unexpected end of input: missing \"]\".")),
        }
    }
    skip_ws(&mut i);
    if i != n {
        return Err(malformed(input, "Junk after closing right bracket."));
    }
    Ok(out)
}

/// For the error detail of an over-long literal: the number of elements, counted cheaply.
fn count_at_least(input: &str, seen: usize) -> usize {
    let commas = input.bytes().filter(|b| *b == b',').count();
    seen.max(commas + 1)
}

/// Appends the text form of one float4, exactly as PostgreSQL's `float4out` writes it.
pub fn write_element(out: &mut String, v: f32) {
    use std::fmt::Write;
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    if !v.is_finite() {
        // Unreachable for stored values (input rejects them); printed the way PostgreSQL does.
        out.push_str(if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    let negative = v.is_sign_negative();
    let (digits, exp) = shortest_digits(v.abs());
    if negative {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// A positive decimal `0.d1d2d3... * 10^(exp+1)`, i.e. digits with the exponent of the first.
#[derive(Debug, Clone, PartialEq)]
struct Decimal {
    digits: Vec<u8>, // ASCII digits, first one non-zero, no trailing zeros
    exp: i32,        // decimal exponent of the first digit
}

impl Decimal {
    /// Parses Rust's `{:e}` output of a positive number ("1.2345e-7").
    fn from_sci(s: &str) -> Decimal {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
        Decimal {
            digits,
            exp: exp.parse().unwrap_or(0),
        }
    }

    fn to_sci(&self) -> String {
        let d = std::str::from_utf8(&self.digits).unwrap_or("0");
        format!(
            "{}.{}e{}",
            &d[..1],
            if d.len() > 1 { &d[1..] } else { "0" },
            self.exp
        )
    }

    /// The next decimal with `p` significant digits above `self` (which has at most `p`).
    fn next_up(&self, p: usize) -> Decimal {
        let mut digits = self.digits.clone();
        digits.resize(p, b'0');
        let mut i = p;
        loop {
            if i == 0 {
                // 999 -> 1000: one more power of ten.
                return Decimal {
                    digits: vec![b'1'],
                    exp: self.exp + 1,
                };
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
        Decimal {
            digits,
            exp: self.exp,
        }
    }

    /// The next decimal with `p` significant digits below `self` (which has at most `p`).
    fn next_down(&self, p: usize) -> Decimal {
        let mut digits = self.digits.clone();
        digits.resize(p, b'0');
        let mut i = p;
        while i > 0 {
            i -= 1;
            if digits[i] == b'0' {
                digits[i] = b'9';
            } else {
                digits[i] -= 1;
                break;
            }
        }
        if digits[0] == b'0' {
            // 1000 -> 999: one power of ten less, p nines.
            return Decimal {
                digits: vec![b'9'; p],
                exp: self.exp - 1,
            };
        }
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
        Decimal {
            digits,
            exp: self.exp,
        }
    }

    /// Exact comparison with a positive finite f64.
    fn cmp_f64(&self, x: f64) -> std::cmp::Ordering {
        let approx: f64 = self.to_sci().parse().unwrap_or(f64::NAN);
        if approx != x {
            return approx.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal);
        }
        // Rounds to x: compare against x's exact expansion (a midpoint of two float4s has at
        // most 113 significant digits, so 130 are exact).
        let exact = Decimal::from_sci(&format!("{:.130e}", x));
        self.exp
            .cmp(&exact.exp)
            .then_with(|| self.digits.cmp(&exact.digits))
    }
}

/// The digits PostgreSQL's `float4out` prints for a positive finite float (Ryu, as PostgreSQL
/// configures it): the fewest significant digits that lie *strictly* inside the rounding
/// interval of `v` (PostgreSQL does not trust strtof on exact midpoints), and among those the
/// one nearest to `v`, ties to even.
fn shortest_digits(v: f32) -> (String, i32) {
    use std::cmp::Ordering::{Greater, Less};
    let x = v as f64;
    let bits = v.to_bits();
    let prev = if bits > 0 {
        f32::from_bits(bits - 1) as f64
    } else {
        0.0
    };
    let next = f32::from_bits(bits + 1);
    let next = if next.is_finite() {
        next as f64
    } else {
        x + (x - prev)
    };
    // Sums of two adjacent float4 values are exact in f64, and so are their halves.
    let (lo, hi) = ((prev + x) / 2.0, (x + next) / 2.0);
    // Fast path: Rust's shortest digits, accepted when they are strictly inside the interval
    // (then no shorter decimal is) and are the nearest decimal of that length to `v`.
    let quick = Decimal::from_sci(&format!("{:e}", v));
    let y: f64 = quick.to_sci().parse().unwrap_or(f64::NAN);
    if lo < y && y < hi {
        let p = quick.digits.len();
        if Decimal::from_sci(&format!("{:.*e}", p - 1, x)) == quick {
            return (
                String::from_utf8_lossy(&quick.digits).into_owned(),
                quick.exp,
            );
        }
    }
    // Slow path (ties and interval bounds): try each length in turn with exact comparisons.
    let inside = |d: &Decimal| d.cmp_f64(lo) == Greater && d.cmp_f64(hi) == Less;
    for p in 1..=9usize {
        // `v` correctly rounded to p digits (Rust's exact formatting rounds half to even).
        let nearest = Decimal::from_sci(&format!("{:.*e}", p - 1, x));
        let candidates = [nearest.clone(), nearest.next_up(p), nearest.next_down(p)];
        if let Some(d) = candidates.iter().find(|d| inside(d)) {
            return (String::from_utf8_lossy(&d.digits).into_owned(), d.exp);
        }
    }
    let d = Decimal::from_sci(&format!("{:.8e}", x));
    (String::from_utf8_lossy(&d.digits).into_owned(), d.exp)
}

/// Formats a vector as `[x1,x2,...]`.
pub fn format(values: &[f32]) -> String {
    let mut out = String::with_capacity(2 + values.len() * 10);
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_element(&mut out, *v);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests;
