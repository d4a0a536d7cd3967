//! Hostile input (issue #6): everything a client can throw at the vecx extension must end in
//! success or in a clean `ERROR` with a proper SQLSTATE. Never SQLSTATE XX000 (internal error,
//! which is what a Rust panic caught by pgrx becomes), never a lost connection or a crashed
//! backend, never a panic message.
//!
//! One throwaway cluster (`hostile-main`, port 55470) receives seven categories of input:
//!
//! 1. **text**: thousands of random, mutated and hand-picked strings through
//!    `SELECT $1::text::vecx` and `::vecx(3)`: empty, unbalanced and nested brackets, NaN and
//!    infinities, literals past float4's range, huge exponents, very long numbers, 16,001 and
//!    100,000 elements, NUL bytes, Unicode junk, white-space variants;
//! 2. **binary**: the receive function, through binary `COPY ... FROM STDIN (FORMAT binary)` and
//!    through binary bind parameters: random bytes, valid encodings truncated at every length or
//!    with bits flipped, dimension headers claiming 0, 16,001, 32,767 or a negative count,
//!    non-zero reserved fields, length mismatches, and mutilated COPY streams;
//! 3. **typmod**: `vecx(0)`, `vecx(-1)`, `vecx(16001)`, `vecx(2147483647)`, `vecx(1,2)`,
//!    `vecx('a')` and random integers in `CREATE TABLE`, casts, `ALTER TABLE` and direct calls of
//!    `vecx_typmod_in`;
//! 4. **reloptions** of `vecx_hnsw` and `vecx_ivfpq`: out of range, negative, huge, non-numeric
//!    and unknown options, and random integers whose outcome the test predicts;
//! 5. **GUC**: the `vecx.*` settings with out-of-range and garbage values, random integers
//!    (predicted, and read back with `SHOW`), misspelled names under the reserved prefix;
//! 6. **functions**: `subvector` at the edges of `int4` (checked against a reference), arithmetic
//!    with mismatched dimensions and float4 overflow (random cases checked element by element
//!    against IEEE float4 arithmetic), aggregates (also parallel, through the combine function)
//!    and their support functions called directly with crafted states, distances between mismatched vectors, casts from arrays with NULLs,
//!    NaN, several dimensions or no elements, concatenation past 16,000 dimensions, and the
//!    introspection functions on relations that are not vecx indexes;
//! 7. **index scans**: every operator class of both access methods, queried with `NULL`,
//!    mismatched, zero, huge, tiny and random query vectors, with a scan cap of one tuple, and
//!    indexes built on zero vectors, vectors near float4's limit and mixed dimensions.
//!
//! Where the right answer is known, the test asserts it: the exact SQLSTATE of hand-picked
//! cases, the outcome of random cases predicted from the specification (for text and binary
//! input, the vecx-core parsers are the specification; the server must agree with them and must
//! store exactly the value they decode), and the values of accepted results. Every case of a
//! category may otherwise only fail with the SQLSTATEs listed for that category.
//!
//! Failures are collected rather than raised at the first one, so one run reports all of them;
//! the test fails at the end if there were any, or if the server log shows a backend terminated
//! by a signal or exiting abnormally, a `PANIC`, or the output of Rust's panic hook. It prints
//! one line per category with the number of cases and their outcomes (by SQLSTATE), and a total.
//!
//! Needs PostgreSQL 15 with the current vecx build installed (`scripts/test.sh` installs it).
//! Run: `cargo test --release -p vecx-bench --test hostile -- --test-threads 1 --nocapture`.
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io::Write;
use std::time::{Duration, Instant};

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Client;
use vecx_bench::cluster::{default_dir, Cluster};
use vecx_bench::dataset::Rng;
use vecx_bench::load::VecParam;
use vecx_core::{binary, text, ErrorKind, MAX_DIM};

const PORT: u16 = 55470;

// ------------------------------------------------------------------------------------------------
// Bookkeeping: categories, expectations, outcomes.
// ------------------------------------------------------------------------------------------------

/// What one case must end in.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// Success.
    Ok,
    /// An ERROR with exactly this SQLSTATE.
    Code(&'static str),
    /// An ERROR with any SQLSTATE the category allows.
    Error,
    /// Success or an ERROR with a SQLSTATE the category allows (only the invariants are checked).
    Either,
}

/// How a case ended, seen from the client.
enum Outcome<T> {
    Ok(T),
    /// An ERROR from the server: SQLSTATE and message.
    Db(String, String),
    /// Anything else: the connection broke, the protocol failed.
    Lost(String),
}

fn from_pg<T>(e: postgres::Error) -> Outcome<T> {
    match e.as_db_error() {
        Some(db) => Outcome::Db(db.code().code().to_string(), db.message().to_string()),
        None => Outcome::Lost(e.to_string()),
    }
}

fn outcome<T>(r: Result<T, postgres::Error>) -> Outcome<T> {
    match r {
        Ok(v) => Outcome::Ok(v),
        Err(e) => from_pg(e),
    }
}

/// The SQLSTATE vecx maps an error kind to (src/error.rs).
fn sqlstate(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidTextRepresentation => "22P02",
        ErrorKind::DataException => "22000",
        ErrorKind::NumericValueOutOfRange => "22003",
        ErrorKind::ProgramLimitExceeded => "54000",
        ErrorKind::InvalidBinaryRepresentation => "22P03",
        ErrorKind::InvalidParameterValue => "22023",
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Cat {
    Text,
    Binary,
    Typmod,
    Reloptions,
    Guc,
    Functions,
    IndexScans,
}

const CATS: [Cat; 7] = [
    Cat::Text,
    Cat::Binary,
    Cat::Typmod,
    Cat::Reloptions,
    Cat::Guc,
    Cat::Functions,
    Cat::IndexScans,
];

impl Cat {
    fn name(self) -> &'static str {
        match self {
            Cat::Text => "text",
            Cat::Binary => "binary (COPY and bind)",
            Cat::Typmod => "typmod",
            Cat::Reloptions => "reloptions",
            Cat::Guc => "GUC",
            Cat::Functions => "functions",
            Cat::IndexScans => "index scans",
        }
    }

    /// SQLSTATEs (five characters) or classes (two) an ERROR of this category may carry.
    fn allowed(self) -> &'static [&'static str] {
        match self {
            // Data exceptions (22xxx, including COPY's 22P04 and the encoding check's 22021)
            // and the 16,000-dimension limit.
            Cat::Text | Cat::Binary => &["22", "54000"],
            // Bad modifiers (22023), modifiers that are not constants (42601), a value of the
            // wrong dimension count (22000).
            Cat::Typmod => &["22", "42601"],
            Cat::Reloptions => &["22023", "42601"],
            // Bad values (22023); a misspelled name under the reserved prefix (42602, "invalid
            // configuration parameter name"); an unknown name read back (42704).
            Cat::Guc => &["22023", "42602", "42704"],
            // ... and introspection of a relation that is not a vecx index (42809).
            Cat::Functions => &["22", "54000", "42809"],
            Cat::IndexScans => &["22", "54000"],
        }
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    accepted: usize,
    errors: BTreeMap<String, usize>,
}

struct Suite {
    cluster: Cluster,
    db: Client,
    tallies: BTreeMap<Cat, Tally>,
    failures: Vec<String>,
}

/// Keeps failure messages readable when the input is a 100,000-element literal.
fn short(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.escape_debug().to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", s[..end].escape_debug(), s.len())
}

impl Suite {
    fn new() -> Suite {
        let mut cluster = Cluster::init(
            &default_dir("hostile-main"),
            PORT,
            &[
                "shared_buffers = '64MB'".into(),
                "max_connections = 20".into(),
                "autovacuum = off".into(),
                "max_parallel_maintenance_workers = 1".into(),
            ],
        )
        .expect("initdb");
        cluster.start().expect("start");
        let mut db = cluster.connect("postgres").expect("connect");
        db.batch_execute("CREATE EXTENSION vecx")
            .expect("CREATE EXTENSION vecx (is the extension installed?)");
        Suite {
            cluster,
            db,
            tallies: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, cat: Cat, label: &str, what: String) {
        self.failures
            .push(format!("[{}] {}: {what}", cat.name(), short(label)));
    }

    /// Records how a case ended and checks it against the category's rules and `expect`.
    /// Returns the value when the case succeeded.
    fn record<T>(&mut self, cat: Cat, label: &str, out: Outcome<T>, expect: &Expect) -> Option<T> {
        let tally = self.tallies.entry(cat).or_default();
        tally.cases += 1;
        match &out {
            Outcome::Ok(_) => tally.accepted += 1,
            Outcome::Db(code, _) => *tally.errors.entry(code.clone()).or_default() += 1,
            Outcome::Lost(_) => *tally.errors.entry("lost connection".into()).or_default() += 1,
        }
        match out {
            Outcome::Ok(v) => {
                if matches!(expect, Expect::Code(_) | Expect::Error) {
                    self.fail(cat, label, format!("accepted, expected {expect:?}"));
                }
                Some(v)
            }
            Outcome::Db(code, message) => {
                let lower = message.to_lowercase();
                if code == "XX000" {
                    self.fail(cat, label, format!("internal error XX000: {message}"));
                } else if lower.contains("panick") || lower.contains("unwrap()") {
                    self.fail(cat, label, format!("panic message ({code}): {message}"));
                } else if !cat
                    .allowed()
                    .iter()
                    .any(|a| code == *a || (a.len() == 2 && code.starts_with(a)))
                {
                    self.fail(
                        cat,
                        label,
                        format!("SQLSTATE {code} is not allowed here: {message}"),
                    );
                } else {
                    match expect {
                        Expect::Ok => self.fail(
                            cat,
                            label,
                            format!("expected success, got {code}: {message}"),
                        ),
                        Expect::Code(want) if *want != code => self.fail(
                            cat,
                            label,
                            format!("expected {want}, got {code}: {message}"),
                        ),
                        _ => {}
                    }
                }
                // A FATAL error (57P02, "terminating connection because of crash of another
                // server process") closes the session.
                if self.db.is_closed() {
                    self.fail(
                        cat,
                        label,
                        format!("the server closed the session ({code})"),
                    );
                    self.reconnect();
                }
                None
            }
            Outcome::Lost(e) => {
                self.fail(
                    cat,
                    label,
                    format!("connection lost or protocol error: {e}"),
                );
                self.reconnect();
                None
            }
        }
    }

    /// After a lost connection: wait for the server (it restarts after a backend crash).
    fn reconnect(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.cluster.connect("postgres") {
                Ok(db) => {
                    self.db = db;
                    return;
                }
                Err(e) if Instant::now() > deadline => panic!("cannot reconnect: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Runs `sql` (one or more statements, no results) as one case.
    fn exec(&mut self, cat: Cat, sql: &str, expect: Expect) -> bool {
        let out = outcome(self.db.batch_execute(sql));
        self.record(cat, sql, out, &expect).is_some()
    }

    /// Runs one query as one case; the rows when it succeeded.
    fn query(
        &mut self,
        cat: Cat,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        expect: Expect,
    ) -> Option<Vec<postgres::Row>> {
        self.query_labelled(cat, sql, sql, params, expect)
    }

    fn query_labelled(
        &mut self,
        cat: Cat,
        label: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        expect: Expect,
    ) -> Option<Vec<postgres::Row>> {
        let out = outcome(self.db.query(sql, params));
        self.record(cat, label, out, &expect)
    }

    /// Setup the test depends on: it must succeed.
    fn setup(&mut self, sql: &str) {
        if let Err(e) = self.db.batch_execute(sql) {
            panic!("setup failed: {sql}: {e}");
        }
    }

    /// Sends `stream` as the whole data of `COPY <target> FROM STDIN (FORMAT binary)`.
    fn copy_binary(&mut self, target: &str, stream: &[u8]) -> Outcome<u64> {
        let sql = format!("COPY {target} FROM STDIN (FORMAT binary)");
        let mut w = match self.db.copy_in(&sql) {
            Ok(w) => w,
            Err(e) => return from_pg(e),
        };
        match w.write_all(stream) {
            Ok(()) => outcome(w.finish()),
            // The server may refuse the data before the end (the writer flushes every 4 kB):
            // finishing the COPY returns the server's error.
            Err(io) => match w.finish() {
                Err(e) => from_pg(e),
                Ok(_) => Outcome::Lost(format!("write failed but COPY succeeded: {io}")),
            },
        }
    }
}

/// Bitwise equality of float vectors (so -0 differs from 0 and a changed value cannot hide).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// A raw binary-format parameter of type `vecx`: the bytes go to `vecx_recv` unchanged.
#[derive(Debug)]
struct RawVecx(Vec<u8>);

impl ToSql for RawVecx {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vecx"
    }

    to_sql_checked!();
}

// ------------------------------------------------------------------------------------------------
// Random material.
// ------------------------------------------------------------------------------------------------

fn below(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[below(rng, items.len())]
}

/// A finite float4 of any magnitude: normal, subnormal, zero of either sign, near the limits.
fn wild_f32(rng: &mut Rng) -> f32 {
    match below(rng, 8) {
        0 => *pick(
            rng,
            &[
                0.0,
                -0.0,
                f32::MAX,
                f32::MIN,
                f32::MIN_POSITIVE,
                1e-45,
                -1e-45,
                3e38,
                1.0,
            ],
        ),
        1 => {
            // Any finite bit pattern.
            loop {
                let v = f32::from_bits(rng.next_u64() as u32);
                if v.is_finite() {
                    return v;
                }
            }
        }
        _ => loop {
            // Up to 10^38 (a Gaussian draw past float4's range is drawn again).
            let exp = below(rng, 79) as i32 - 40;
            let v = (rng.gaussian() * 10f64.powi(exp)) as f32;
            if v.is_finite() {
                return v;
            }
        },
    }
}

/// A textual element in one of many spellings.
fn element_text(rng: &mut Rng) -> String {
    let v = wild_f32(rng);
    let s = match below(rng, 6) {
        0 => format!("{v}"),
        1 => format!("{v:e}"),
        2 => format!("{v:E}"),
        3 => format!("{:.3}", v),
        4 => format!("{}", (v as f64) * 1.000_000_1),
        _ => format!("{}", below(rng, 1000) as i64 - 500),
    };
    match below(rng, 10) {
        0 if !s.starts_with('-') => format!("+{s}"),
        1 => format!("000{s}"),
        _ => s,
    }
}

const WS: [&str; 7] = [" ", "\t", "\n", "\r", "\u{b}", "\u{c}", "  \n\t "];

/// A well-formed literal of `dims` elements with random spacing.
fn literal(rng: &mut Rng, dims: usize) -> String {
    let mut s = String::new();
    let ws = |rng: &mut Rng, s: &mut String| {
        if below(rng, 4) == 0 {
            s.push_str(*pick(rng, &WS));
        }
    };
    ws(rng, &mut s);
    s.push('[');
    for i in 0..dims {
        if i > 0 {
            s.push(',');
        }
        ws(rng, &mut s);
        s.push_str(&element_text(rng));
        ws(rng, &mut s);
    }
    s.push(']');
    ws(rng, &mut s);
    s
}

/// Fragments that break literals in interesting ways.
const JUNK: &[&str] = &[
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "-Infinity",
    "infinity",
    "1e39",
    "-1e39",
    "3.4028236e38",
    "3.4028235e38",
    "-3.4028235e38",
    "1e-46",
    "1e-45",
    "-1e-45",
    "1.4e-45",
    "7e-46",
    "0e999999999",
    "1e999999999999",
    "1e-999999999",
    "-0",
    "+0",
    "0x10",
    "0x1p3",
    "1_000",
    "١٢",
    "𝟙",
    "\u{0}",
    "\u{feff}",
    "\u{a0}",
    "\u{2028}",
    "\u{200b}",
    "[",
    "]",
    ",",
    ",,",
    "[[1]]",
    "[]",
    "e",
    "E",
    "e5",
    "1e",
    "1e+",
    "-",
    "+",
    ".",
    "..",
    "1.2.3",
    "--1",
    "+-1",
    "'",
    "\"",
    "\\",
    "{1,2}",
    "(1,2)",
    "é",
    "🙂",
    "NULL",
    "null",
    "true",
    "1 2",
    "\t",
    "\n",
    " ",
    "\r\n",
    ";",
    "$1",
    "%s",
    "%n",
    "\u{fffd}",
    "\u{10ffff}",
];

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    for _ in 0..1 + below(rng, 3) {
        let at = below(rng, c.len() + 1);
        match below(rng, 6) {
            0 if !c.is_empty() => {
                let end = (at + 1 + below(rng, 4)).min(c.len());
                let at = at.min(c.len() - 1);
                c.drain(at..end.max(at));
            }
            1 | 2 => {
                let j: Vec<char> = pick(rng, JUNK).chars().collect();
                c.splice(at..at, j);
            }
            3 if !c.is_empty() => {
                let at = at.min(c.len() - 1);
                c[at] = *pick(
                    rng,
                    &[
                        '[', ']', ',', '.', 'e', '-', '+', ' ', '0', '9', 'x', '\u{0}', 'é',
                    ],
                );
            }
            4 if c.len() > 1 => {
                let cut = below(rng, c.len());
                c.truncate(cut);
            }
            _ => {
                let from = below(rng, c.len() + 1);
                let to = (from + below(rng, 8)).min(c.len());
                let piece: Vec<char> = c[from..to].to_vec();
                c.splice(at..at, piece);
            }
        }
    }
    c.into_iter().collect()
}

fn random_junk(rng: &mut Rng) -> String {
    let alphabet: Vec<char> = "[],.-+eE0123456789 \t\nnaifNI\u{0}é🙂x".chars().collect();
    (0..below(rng, 40)).map(|_| *pick(rng, &alphabet)).collect()
}

// ------------------------------------------------------------------------------------------------
// 1. Text input.
// ------------------------------------------------------------------------------------------------

/// What the server must answer for text `input` cast to `vecx` (or `vecx(typmod)`): the
/// vecx-core parser's verdict, except that PostgreSQL refuses a NUL byte in any text (22021)
/// before vecx sees it.
fn predict_text(input: &str, typmod: Option<usize>) -> (Expect, Option<Vec<f32>>) {
    if input.contains('\0') {
        return (Expect::Code("22021"), None);
    }
    match text::parse(input) {
        Ok(v) => match typmod {
            Some(n) if n != v.len() => (Expect::Code("22000"), None),
            _ => (Expect::Ok, Some(v)),
        },
        Err(e) => (Expect::Code(sqlstate(e.kind)), None),
    }
}

fn text_case(s: &mut Suite, input: &str, typmod: Option<usize>, expect: Option<Expect>) {
    let (predicted, values) = predict_text(input, typmod);
    if let Some(e) = &expect {
        // The hand-written expectation and the parser must agree; if not, the parser is wrong.
        if *e != predicted {
            s.fail(
                Cat::Text,
                input,
                format!("vecx-core's parser predicts {predicted:?}, the test expects {e:?}"),
            );
        }
    }
    let expect = expect.unwrap_or(predicted);
    let sql = match typmod {
        Some(n) => format!("SELECT v::text, v::real[] FROM (SELECT $1::text::vecx({n}) AS v) s"),
        None => "SELECT v::text, v::real[] FROM (SELECT $1::text::vecx AS v) s".to_string(),
    };
    let Some(rows) = s.query_labelled(Cat::Text, input, &sql, &[&input], expect) else {
        return;
    };
    let printed: String = rows[0].get(0);
    let stored: Vec<f32> = rows[0].get(1);
    if let Some(want) = values {
        if !same_bits(&stored, &want) {
            s.fail(
                Cat::Text,
                input,
                format!(
                    "stored {} values, not the {} parsed",
                    stored.len(),
                    want.len()
                ),
            );
        }
    }
    // The output reads back to the same value, bit for bit.
    match text::parse(&printed) {
        Ok(back) if same_bits(&back, &stored) => {}
        _ => s.fail(
            Cat::Text,
            input,
            format!("output {} does not read back", short(&printed)),
        ),
    }
}

fn text_input(s: &mut Suite) {
    let many = |n: usize| format!("[{}]", vec!["1"; n].join(","));
    let long_digits = format!("[1{}]", "0".repeat(100_000));
    let long_fraction = format!("[0.{}1]", "0".repeat(100_000));
    let long_ones = format!("[{}]", "1".repeat(38));
    let too_many_ones = format!("[{}]", "1".repeat(40));
    let long_mantissa = format!("[1.{}]", "2".repeat(10_000));
    let leading_zeros = format!("[{}1.5]", "0".repeat(10_000));
    let big_exponent = format!("[1e{}]", "9".repeat(1000));
    let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
    let c = |code: &'static str| Some(Expect::Code(code));
    let cases: Vec<(&str, Option<Expect>)> = vec![
        ("", c("22P02")),
        ("   ", c("22P02")),
        ("[]", c("22000")),
        ("[ ]", c("22000")),
        ("[", c("22P02")),
        ("]", c("22P02")),
        ("[1", c("22P02")),
        ("[1,", c("22P02")),
        ("[1,]", c("22P02")),
        ("[,1]", c("22P02")),
        ("[1,,2]", c("22P02")),
        ("[[1]]", c("22P02")),
        ("[[1,2],[3,4]]", c("22P02")),
        (deep.as_str(), c("22P02")),
        ("[1] x", c("22P02")),
        ("[1]]", c("22P02")),
        ("[1 2]", c("22P02")),
        ("{1,2}", c("22P02")),
        ("(1,2)", c("22P02")),
        ("[NaN]", c("22000")),
        ("[nan]", c("22000")),
        ("[Infinity]", c("22000")),
        ("[-Infinity]", c("22000")),
        ("[inf]", c("22000")),
        ("[-inf]", c("22000")),
        ("[1,NaN,3]", c("22000")),
        ("[1e39]", c("22003")),
        ("[-1e39]", c("22003")),
        ("[3.4028236e38]", c("22003")),
        ("[1e-50]", c("22003")),
        ("[-1e-46]", c("22003")),
        (big_exponent.as_str(), c("22003")),
        ("[1e-999999999999999999999]", c("22003")),
        ("[0e999999999999999999999]", Some(Expect::Ok)),
        ("[3.4028235e38]", Some(Expect::Ok)),
        ("[1e-45]", Some(Expect::Ok)),
        ("[-0]", Some(Expect::Ok)),
        (long_digits.as_str(), c("22003")),
        (long_fraction.as_str(), c("22003")),
        (long_ones.as_str(), Some(Expect::Ok)),
        (too_many_ones.as_str(), c("22003")),
        (long_mantissa.as_str(), Some(Expect::Ok)),
        (leading_zeros.as_str(), Some(Expect::Ok)),
        ("[0x10]", c("22P02")),
        ("[1_000]", c("22P02")),
        ("[١]", c("22P02")),
        ("[\u{a0}1]", c("22P02")),
        ("[1\u{feff}]", c("22P02")),
        ("[1\u{0}]", c("22021")),
        ("\u{0}", c("22021")),
        ("[é]", c("22P02")),
        ("[🙂]", c("22P02")),
        (
            " \t\n\r\u{b}\u{c}[ \t\n1 \r, \u{b}2\u{c} ] \n",
            Some(Expect::Ok),
        ),
        ("[+1,-2,.5,5.,1E+1,2e-1]", Some(Expect::Ok)),
        ("[.]", c("22P02")),
        ("[e1]", c("22P02")),
        ("[1e]", c("22P02")),
        ("[--1]", c("22P02")),
        ("[NULL]", c("22P02")),
    ];
    for (input, expect) in &cases {
        text_case(s, input, None, expect.clone());
    }
    let (ok16000, over, huge) = (many(MAX_DIM), many(MAX_DIM + 1), many(100_000));
    text_case(s, &ok16000, None, Some(Expect::Ok));
    text_case(s, &over, None, Some(Expect::Code("54000")));
    text_case(s, &huge, None, Some(Expect::Code("54000")));
    text_case(s, &huge, Some(3), Some(Expect::Code("54000")));
    text_case(s, "[1,2,3]", Some(3), Some(Expect::Ok));
    text_case(s, "[1,2]", Some(3), Some(Expect::Code("22000")));
    text_case(s, "[1,2,3,4]", Some(3), Some(Expect::Code("22000")));
    text_case(s, "[]", Some(3), Some(Expect::Code("22000")));

    let mut rng = Rng::new(6001);
    for i in 0..5000 {
        let input = match i % 5 {
            0 => {
                let dims = 1 + below(&mut rng, 6);
                literal(&mut rng, dims)
            }
            1 | 2 => {
                let dims = 1 + below(&mut rng, 5);
                let base = literal(&mut rng, dims);
                mutate(&mut rng, &base)
            }
            3 => random_junk(&mut rng),
            _ => {
                let base = literal(&mut rng, 3);
                let mut m = mutate(&mut rng, &base);
                if below(&mut rng, 2) == 0 {
                    m = mutate(&mut rng, &m);
                }
                m
            }
        };
        let typmod = (below(&mut rng, 3) == 0).then_some(3);
        text_case(s, &input, typmod, None);
    }
}

// ------------------------------------------------------------------------------------------------
// 2. Binary input.
// ------------------------------------------------------------------------------------------------

const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// A binary COPY stream of one-column tuples; `None` is a NULL field. `lengths` overrides the
/// field length written before each field (to make it lie).
fn copy_stream(fields: &[Option<&[u8]>], lengths: Option<&[i32]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(COPY_SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for (i, f) in fields.iter().enumerate() {
        out.extend_from_slice(&1i16.to_be_bytes());
        let len = match (lengths, f) {
            (Some(l), _) => l[i],
            (None, Some(b)) => b.len() as i32,
            (None, None) => -1,
        };
        out.extend_from_slice(&len.to_be_bytes());
        if let Some(b) = f {
            out.extend_from_slice(b);
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// What `vecx_recv` must do with exactly `field` as one value: the vecx-core decoder's verdict;
/// bytes left over are PostgreSQL's "incorrect binary data format" (22P03).
fn predict_binary(field: &[u8]) -> (Expect, Option<Vec<f32>>) {
    match binary::decode(field) {
        Ok((v, used)) if used == field.len() => (Expect::Ok, Some(v)),
        Ok(_) => (Expect::Code("22P03"), None),
        Err(e) => (Expect::Code(sqlstate(e.kind)), None),
    }
}

/// One value through a binary bind parameter, and (when `copy`) through binary COPY.
fn binary_case(s: &mut Suite, label: &str, field: &[u8], expect: Option<Expect>, copy: bool) {
    let (predicted, values) = predict_binary(field);
    if let Some(e) = &expect {
        if *e != predicted {
            s.fail(
                Cat::Binary,
                label,
                format!("vecx-core's decoder predicts {predicted:?}, the test expects {e:?}"),
            );
        }
    }
    let expect = expect.unwrap_or(predicted);
    let param = RawVecx(field.to_vec());
    let bind_label = format!("bind {label}");
    if let Some(rows) = s.query_labelled(
        Cat::Binary,
        &bind_label,
        "SELECT $1::vecx::real[]",
        &[&param],
        expect.clone(),
    ) {
        let got: Vec<f32> = rows[0].get(0);
        if let Some(want) = &values {
            if !same_bits(&got, want) {
                s.fail(
                    Cat::Binary,
                    &bind_label,
                    "value changed on the way in".into(),
                );
            }
        }
    }
    if !copy {
        return;
    }
    let copy_label = format!("COPY {label}");
    let stream = copy_stream(&[Some(field)], None);
    let out = s.copy_binary("hb (v)", &stream);
    if s.record(Cat::Binary, &copy_label, out, &expect).is_some() {
        check_copied(
            s,
            &copy_label,
            values.as_deref().map(|v| vec![Some(v.to_vec())]),
        );
    }
}

/// After a successful COPY into `hb`: the rows stored (emptied afterwards) must be `want`.
fn check_copied(s: &mut Suite, label: &str, want: Option<Vec<Option<Vec<f32>>>>) {
    let rows = match s.db.query("DELETE FROM hb RETURNING id, v::real[]", &[]) {
        Ok(r) => r,
        Err(e) => {
            s.fail(Cat::Binary, label, format!("reading back failed: {e}"));
            return;
        }
    };
    let mut got: Vec<(i64, Option<Vec<f32>>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    got.sort_by_key(|(id, _)| *id);
    let got: Vec<Option<Vec<f32>>> = got.into_iter().map(|(_, v)| v).collect();
    if let Some(want) = want {
        let equal = got.len() == want.len()
            && got.iter().zip(&want).all(|(g, w)| match (g, w) {
                (Some(g), Some(w)) => same_bits(g, w),
                (None, None) => true,
                _ => false,
            });
        if !equal {
            s.fail(
                Cat::Binary,
                label,
                format!("stored {got:?} instead of {want:?}"),
            );
        }
    }
}

fn header(dims: i16, reserved: i16) -> Vec<u8> {
    let mut b = dims.to_be_bytes().to_vec();
    b.extend_from_slice(&reserved.to_be_bytes());
    b
}

fn with_floats(mut head: Vec<u8>, n: usize, v: f32) -> Vec<u8> {
    for _ in 0..n {
        head.extend_from_slice(&v.to_be_bytes());
    }
    head
}

fn binary_input(s: &mut Suite) {
    s.setup("CREATE TABLE hb (id bigserial PRIMARY KEY, v vecx); CREATE TABLE hb3 (v vecx(3))");
    let c = |code: &'static str| Some(Expect::Code(code));
    // Hand-picked headers and bodies.
    let fixed: Vec<(&str, Vec<u8>, Option<Expect>)> = vec![
        ("empty", vec![], c("22P03")),
        ("one byte", vec![0], c("22P03")),
        ("three bytes", vec![0, 1, 0], c("22P03")),
        ("0 dims", header(0, 0), c("22000")),
        (
            "16001 dims",
            with_floats(header(16001, 0), 16001, 1.0),
            c("54000"),
        ),
        ("16001 dims, no body", header(16001, 0), c("54000")),
        ("32767 dims", header(i16::MAX, 0), c("54000")),
        (
            "dims 65535 (-1)",
            with_floats(header(-1, 0), 4, 1.0),
            c("22P03"),
        ),
        ("dims -32768", header(i16::MIN, 0), c("22P03")),
        ("dims i32::MAX", i32::MAX.to_be_bytes().to_vec(), c("54000")),
        ("dims i32::MIN", i32::MIN.to_be_bytes().to_vec(), c("22P03")),
        ("reserved 1", with_floats(header(1, 1), 1, 1.0), c("22P03")),
        (
            "reserved -1",
            with_floats(header(1, -1), 1, 1.0),
            c("22P03"),
        ),
        (
            "claims 2, has 1",
            with_floats(header(2, 0), 1, 1.0),
            c("22P03"),
        ),
        (
            "claims 1, has 2",
            with_floats(header(1, 0), 2, 1.0),
            c("22P03"),
        ),
        (
            "claims 16000, has 1",
            with_floats(header(16000, 0), 1, 1.0),
            c("22P03"),
        ),
        (
            "16000 dims",
            with_floats(header(16000, 0), 16000, 0.5),
            Some(Expect::Ok),
        ),
        ("NaN", with_floats(header(1, 0), 1, f32::NAN), c("22000")),
        (
            "infinity",
            with_floats(header(2, 0), 2, f32::INFINITY),
            c("22000"),
        ),
        (
            "-infinity",
            with_floats(header(1, 0), 1, f32::NEG_INFINITY),
            c("22000"),
        ),
        (
            "subnormal",
            with_floats(header(1, 0), 1, 1e-45),
            Some(Expect::Ok),
        ),
        ("-0", with_floats(header(1, 0), 1, -0.0), Some(Expect::Ok)),
        (
            "max",
            with_floats(header(3, 0), 3, f32::MAX),
            Some(Expect::Ok),
        ),
    ];
    for (label, bytes, expect) in &fixed {
        binary_case(s, label, bytes, expect.clone(), true);
    }

    // Valid encodings truncated at every length (bind), and every fourth length (COPY).
    let mut rng = Rng::new(6002);
    for k in 0..40 {
        let dims = 1 + below(&mut rng, 24);
        let v: Vec<f32> = (0..dims).map(|_| wild_f32(&mut rng)).collect();
        let bytes = binary::encode(&v);
        binary_case(
            s,
            &format!("valid {dims} dims #{k}"),
            &bytes,
            Some(Expect::Ok),
            true,
        );
        for cut in 0..bytes.len() {
            // Short of a header, or a header claiming more floats than follow: 22P03.
            binary_case(
                s,
                &format!("{dims} dims truncated to {cut}"),
                &bytes[..cut],
                c("22P03"),
                cut % 4 == 0,
            );
        }
        // One byte more than the value: left over, 22P03.
        let mut extra = bytes.clone();
        extra.push(below(&mut rng, 256) as u8);
        binary_case(
            s,
            &format!("{dims} dims + 1 byte"),
            &extra,
            c("22P03"),
            k % 4 == 0,
        );
    }

    // Valid encodings with bits flipped: the header, the reserved field or a float (which may
    // become NaN, infinity, a subnormal or just another number).
    for k in 0..600 {
        let dims = 1 + below(&mut rng, 8);
        let v: Vec<f32> = (0..dims).map(|_| wild_f32(&mut rng)).collect();
        let mut b = binary::encode(&v);
        for _ in 0..1 + below(&mut rng, 3) {
            let at = below(&mut rng, b.len());
            b[at] ^= 1 << below(&mut rng, 8);
        }
        binary_case(s, &format!("flipped #{k} {b:02x?}"), &b, None, k % 4 == 0);
    }

    // Random bytes, most with a plausible header so some are valid.
    for k in 0..1500 {
        let len = below(&mut rng, 48);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 4 && below(&mut rng, 3) > 0 {
            let dims = match below(&mut rng, 3) {
                0 => ((len - 4) / 4) as i16,
                1 => below(&mut rng, 12) as i16,
                _ => rng.next_u64() as i16,
            };
            b[..2].copy_from_slice(&dims.to_be_bytes());
            if below(&mut rng, 4) > 0 {
                b[2] = 0;
                b[3] = 0;
            }
        }
        binary_case(s, &format!("random #{k} {b:02x?}"), &b, None, k % 3 == 0);
    }

    // Mutilated COPY streams: the field length lies, the tuple has the wrong field count, the
    // stream stops anywhere. Only the invariants are predictable here (PostgreSQL's own COPY
    // checks answer with 22P04), plus the value when a row does get in.
    let v = [1.5f32, -2.0, 3.25];
    let good = binary::encode(&v);
    let lies: [i32; 9] = [-2, -1000, i32::MIN, 0, 3, 15, 17, 1 << 20, i32::MAX];
    for len in lies {
        let stream = copy_stream(&[Some(&good)], Some(&[len]));
        let label = format!("COPY stream, field length {len} for 16 bytes");
        let out = s.copy_binary("hb (v)", &stream);
        if s.record(Cat::Binary, &label, out, &Expect::Error).is_some() {
            check_copied(s, &label, None);
        }
    }
    // NULL fields are fine, also into a vecx(3) column.
    let stream = copy_stream(&[None, Some(&good), None], None);
    let out = s.copy_binary("hb (v)", &stream);
    if s.record(Cat::Binary, "COPY NULL, value, NULL", out, &Expect::Ok)
        .is_some()
    {
        check_copied(
            s,
            "COPY NULL, value, NULL",
            Some(vec![None, Some(v.to_vec()), None]),
        );
    }
    let out = s.copy_binary("hb3 (v)", &copy_stream(&[Some(&good)], None));
    s.record(Cat::Binary, "COPY 3 dims into vecx(3)", out, &Expect::Ok);
    let four = binary::encode(&[1.0, 2.0, 3.0, 4.0]);
    let out = s.copy_binary("hb3 (v)", &copy_stream(&[Some(&four)], None));
    s.record(
        Cat::Binary,
        "COPY 4 dims into vecx(3)",
        out,
        &Expect::Code("22000"),
    );
    // Two fields for a one-column COPY.
    let mut two = copy_stream(&[Some(&good)], None);
    two[19..21].copy_from_slice(&2i16.to_be_bytes());
    let out = s.copy_binary("hb (v)", &two);
    s.record(
        Cat::Binary,
        "COPY tuple with 2 fields",
        out,
        &Expect::Code("22P04"),
    );
    // The stream cut at every length: a cut at a tuple boundary is a clean end of data.
    let full = copy_stream(&[Some(&good), Some(&good)], None);
    for cut in 0..full.len() {
        let label = format!("COPY stream cut at {cut} of {}", full.len());
        let out = s.copy_binary("hb (v)", &full[..cut]);
        if s.record(Cat::Binary, &label, out, &Expect::Either)
            .is_some()
        {
            // Whatever got in must be whole copies of the value.
            let rows = s.db.query("DELETE FROM hb RETURNING v::real[]", &[]);
            match rows {
                Ok(rows) => {
                    for r in rows {
                        let got: Vec<f32> = r.get(0);
                        if !same_bits(&got, &v) {
                            s.fail(Cat::Binary, &label, format!("stored {got:?}"));
                        }
                    }
                }
                Err(e) => s.fail(Cat::Binary, &label, format!("read back: {e}")),
            }
        }
    }
    // Random bytes after a valid signature, and random streams.
    for k in 0..300 {
        let mut stream = copy_stream(&[Some(&good)], None);
        let n = 1 + below(&mut rng, 4);
        for _ in 0..n {
            let at = 11 + below(&mut rng, stream.len() - 11);
            stream[at] = rng.next_u64() as u8;
        }
        let label = format!("COPY stream mutated #{k}");
        let out = s.copy_binary("hb (v)", &stream);
        if s.record(Cat::Binary, &label, out, &Expect::Either)
            .is_some()
        {
            check_copied(s, &label, None);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// 3. Type modifiers.
// ------------------------------------------------------------------------------------------------

fn typmods(s: &mut Suite) {
    let bad = [
        "0",
        "-1",
        "16001",
        "2147483647",
        "2147483648",
        "-2147483648",
        "99999999999999999999999",
        "1,2",
        "3,3",
        "'a'",
        "''",
        "'3'",
        "1.5",
        "1e3",
        "a",
        "\"3\"",
    ];
    for (i, t) in bad.iter().enumerate() {
        // '3' as a string constant and "3" as an identifier are spelled 3 to the type: valid.
        let expect = if *t == "'3'" || *t == "\"3\"" {
            Expect::Ok
        } else {
            Expect::Code("22023")
        };
        s.exec(
            Cat::Typmod,
            &format!("CREATE TABLE tm{i} (v vecx({t}))"),
            expect.clone(),
        );
        s.exec(
            Cat::Typmod,
            &format!("DROP TABLE IF EXISTS tm{i}"),
            Expect::Ok,
        );
        s.query(
            Cat::Typmod,
            &format!("SELECT '[1,2,3]'::vecx({t})"),
            &[],
            expect.clone(),
        );
        s.query(
            Cat::Typmod,
            &format!("SELECT CAST(NULL AS vecx({t}))"),
            &[],
            expect.clone(),
        );
        s.query(
            Cat::Typmod,
            &format!("SELECT ARRAY[1,2,3]::real[]::vecx({t})"),
            &[],
            expect.clone(),
        );
    }
    s.exec(
        Cat::Typmod,
        "CREATE TABLE tmn (v vecx(NULL))",
        Expect::Code("42601"),
    );
    s.exec(
        Cat::Typmod,
        "CREATE TABLE tmx (v vecx(1+1))",
        Expect::Code("42601"),
    );
    s.exec(
        Cat::Typmod,
        "CREATE TABLE tmf (v vecx(now()))",
        Expect::Code("42601"),
    );
    // Direct calls of the modifier functions with arrays the grammar never produces.
    for (arr, expect) in [
        ("'{}'", Expect::Code("22023")),
        ("'{NULL}'", Expect::Code("22023")),
        ("'{1,NULL}'", Expect::Code("22023")),
        ("'{\" 7 \"}'", Expect::Ok),
        ("'{{1},{2}}'", Expect::Code("22023")),
        ("'{16000}'", Expect::Ok),
        ("'{16001}'", Expect::Code("22023")),
        ("'{-0}'", Expect::Code("22023")),
        ("'{+5}'", Expect::Ok),
        ("'{0x10}'", Expect::Code("22023")),
    ] {
        s.query(
            Cat::Typmod,
            &format!("SELECT vecx_typmod_in({arr}::cstring[])"),
            &[],
            expect,
        );
    }
    for t in [i32::MIN, -1, 0, 1, 16000, 16001, i32::MAX] {
        s.query(
            Cat::Typmod,
            &format!("SELECT vecx_typmod_out({t})::text"),
            &[],
            Expect::Ok,
        );
        // The length-coercion function with any modifier: only 3 or "none" (<= 0) accept.
        let expect = if t <= 0 || t == 3 {
            Expect::Ok
        } else {
            Expect::Code("22000")
        };
        s.query(
            Cat::Typmod,
            &format!("SELECT vecx('[1,2,3]'::vecx, {t}, true)"),
            &[],
            expect.clone(),
        );
        s.query(
            Cat::Typmod,
            &format!("SELECT vecx_in('[1,2,3]', 0, {t})"),
            &[],
            expect.clone(),
        );
        s.query(
            Cat::Typmod,
            &format!("SELECT array_to_vecx('{{1,2,3}}'::real[], {t}, true)"),
            &[],
            expect,
        );
    }
    // Changing a column's modifier under existing rows.
    s.setup("CREATE TABLE tma (v vecx); INSERT INTO tma VALUES ('[1,2,3]'), ('[1,2]')");
    s.exec(
        Cat::Typmod,
        "ALTER TABLE tma ALTER COLUMN v TYPE vecx(3)",
        Expect::Code("22000"),
    );
    s.exec(
        Cat::Typmod,
        "ALTER TABLE tma ALTER COLUMN v TYPE vecx(0)",
        Expect::Code("22023"),
    );
    s.exec(
        Cat::Typmod,
        "DELETE FROM tma WHERE vecx_dims(v) = 2; ALTER TABLE tma ALTER COLUMN v TYPE vecx(3)",
        Expect::Ok,
    );
    s.exec(
        Cat::Typmod,
        "INSERT INTO tma VALUES ('[1,2,3,4]')",
        Expect::Code("22000"),
    );
    s.exec(
        Cat::Typmod,
        "INSERT INTO tma VALUES (ARRAY[1,2]::real[])",
        Expect::Code("22000"),
    );
    // Random modifiers, predicted.
    let mut rng = Rng::new(6003);
    for _ in 0..300 {
        let t: i64 = match below(&mut rng, 4) {
            0 => below(&mut rng, 20) as i64 - 5,
            1 => below(&mut rng, 40) as i64 + 15_980,
            2 => rng.next_u64() as i32 as i64,
            _ => rng.next_u64() as i64,
        };
        let expect = if !(1..=MAX_DIM as i64).contains(&t) {
            Expect::Code("22023")
        } else if t == 3 {
            Expect::Ok
        } else {
            Expect::Code("22000")
        };
        s.query(
            Cat::Typmod,
            &format!("SELECT '[1,2,3]'::vecx({t})"),
            &[],
            expect,
        );
    }
}

// ------------------------------------------------------------------------------------------------
// 4. Reloptions.
// ------------------------------------------------------------------------------------------------

/// After a successful build: the index checks out and answers a search with 5 rows.
fn index_works(s: &mut Suite, cat: Cat, label: &str, index: &str, table: &str) {
    let ok =
        s.db.query_one(&format!("SELECT vecx_index_check('{index}')"), &[])
            .map(|r| r.get::<_, bool>(0));
    if !matches!(ok, Ok(true)) {
        s.fail(cat, label, format!("vecx_index_check: {ok:?}"));
    }
    // The caller has set enable_seqscan = off, so this is an index scan.
    let n = s.db.query(
        &format!("SELECT id FROM {table} ORDER BY v <-> (SELECT v FROM {table} LIMIT 1) LIMIT 5"),
        &[],
    );
    match n {
        Ok(rows) if rows.len() == 5 => {}
        other => s.fail(
            cat,
            label,
            format!("search after build: {:?}", other.map(|r| r.len())),
        ),
    }
}

fn hnsw_ok(m: i64, ef: i64) -> bool {
    (2..=100).contains(&m) && (4..=1000).contains(&ef) && ef >= 2 * m
}

fn ivfpq_ok(lists: i64, pq_m: i64, bits: i64, dims: i64) -> bool {
    (0..=32_768).contains(&lists)
        && (0..=16_000).contains(&pq_m)
        && pq_m <= dims
        && (bits == 4 || bits == 8)
}

fn reloptions(s: &mut Suite) {
    s.setup(
        "CREATE TABLE r (id int PRIMARY KEY, v vecx(8));
         INSERT INTO r SELECT i, (SELECT array_agg(sin(i * 1.7 + d * 0.3)) FROM generate_series(1, 8) d WHERE i > 0)::vecx
         FROM generate_series(1, 100) i;
         SET enable_seqscan = off",
    );
    let hnsw = "CREATE INDEX r_v ON r USING vecx_hnsw (v vecx_l2_ops)";
    let ivf = "CREATE INDEX r_v ON r USING vecx_ivfpq (v vecx_l2_ops)";
    let fixed: Vec<(String, Expect)> = vec![
        (format!("{hnsw} WITH (m = 1)"), Expect::Code("22023")),
        (format!("{hnsw} WITH (m = 101)"), Expect::Code("22023")),
        (format!("{hnsw} WITH (m = -1)"), Expect::Code("22023")),
        (
            format!("{hnsw} WITH (m = 2147483648)"),
            Expect::Code("22023"),
        ),
        (
            format!("{hnsw} WITH (m = 99999999999999999999999)"),
            Expect::Code("22023"),
        ),
        (format!("{hnsw} WITH (m = 'abc')"), Expect::Code("22023")),
        (format!("{hnsw} WITH (m = '')"), Expect::Code("22023")),
        (format!("{hnsw} WITH (m = 1.4)"), Expect::Code("22023")),
        // PostgreSQL's integer parser rounds a fraction: 1.5 is m = 2.
        (format!("{hnsw} WITH (m = 1.5)"), Expect::Ok),
        (format!("{hnsw} WITH (m = '16 ')"), Expect::Either),
        (format!("{hnsw} WITH (m)"), Expect::Code("22023")),
        (
            format!("{hnsw} WITH (m = 16, m = 17)"),
            Expect::Code("22023"),
        ),
        (
            format!("{hnsw} WITH (ef_construction = 3)"),
            Expect::Code("22023"),
        ),
        (
            format!("{hnsw} WITH (ef_construction = 1001)"),
            Expect::Code("22023"),
        ),
        (
            format!("{hnsw} WITH (m = 100, ef_construction = 199)"),
            Expect::Code("22023"),
        ),
        (
            format!("{hnsw} WITH (m = 100, ef_construction = 200)"),
            Expect::Ok,
        ),
        (
            format!("{hnsw} WITH (m = 2, ef_construction = 4)"),
            Expect::Ok,
        ),
        (format!("{hnsw} WITH (lists = 10)"), Expect::Code("22023")),
        (format!("{hnsw} WITH (foo = 1)"), Expect::Code("22023")),
        (format!("{hnsw} WITH (vecx.m = 16)"), Expect::Code("22023")),
        (
            format!("{hnsw} WITH (fillfactor = 50)"),
            Expect::Code("22023"),
        ),
        (format!("{ivf} WITH (lists = -1)"), Expect::Code("22023")),
        (format!("{ivf} WITH (lists = 32769)"), Expect::Code("22023")),
        (format!("{ivf} WITH (lists = 32768)"), Expect::Ok),
        (format!("{ivf} WITH (lists = 0, pq_m = 0)"), Expect::Ok),
        (
            format!("{ivf} WITH (lists = 'many')"),
            Expect::Code("22023"),
        ),
        (format!("{ivf} WITH (pq_m = 9)"), Expect::Code("22023")),
        (format!("{ivf} WITH (pq_m = 16001)"), Expect::Code("22023")),
        (format!("{ivf} WITH (pq_m = 8, pq_bits = 4)"), Expect::Ok),
        (format!("{ivf} WITH (pq_m = 7, pq_bits = 4)"), Expect::Ok),
        (format!("{ivf} WITH (pq_m = 1, pq_bits = 8)"), Expect::Ok),
        (format!("{ivf} WITH (pq_bits = 5)"), Expect::Code("22023")),
        (format!("{ivf} WITH (pq_bits = 3)"), Expect::Code("22023")),
        (format!("{ivf} WITH (pq_bits = 16)"), Expect::Code("22023")),
        (
            format!("{ivf} WITH (pq_bits = 'eight')"),
            Expect::Code("22023"),
        ),
        (format!("{ivf} WITH (m = 16)"), Expect::Code("22023")),
        (format!("{ivf} WITH (probes = 3)"), Expect::Code("22023")),
    ];
    for (sql, expect) in fixed {
        if s.exec(Cat::Reloptions, &sql, expect) {
            index_works(s, Cat::Reloptions, &sql, "r_v", "r");
            s.setup("DROP INDEX r_v");
        }
    }
    // ALTER INDEX: ranges apply at once; the m/ef_construction relation at the next build,
    // which must fail cleanly and leave the old index working.
    s.setup(hnsw);
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v SET (m = 1000)",
        Expect::Code("22023"),
    );
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v SET (nonsense = 1)",
        Expect::Code("22023"),
    );
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v SET (m = 'x')",
        Expect::Code("22023"),
    );
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v SET (ef_construction = 4)",
        Expect::Ok,
    );
    s.exec(Cat::Reloptions, "REINDEX INDEX r_v", Expect::Code("22023"));
    index_works(s, Cat::Reloptions, "after the failed REINDEX", "r_v", "r");
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v RESET (ef_construction)",
        Expect::Ok,
    );
    s.exec(Cat::Reloptions, "REINDEX INDEX r_v", Expect::Ok);
    s.setup("DROP INDEX r_v");
    s.setup(&format!("{ivf} WITH (lists = 4)"));
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v SET (pq_bits = 6)",
        Expect::Code("22023"),
    );
    s.exec(
        Cat::Reloptions,
        "ALTER INDEX r_v SET (pq_m = 100)",
        Expect::Ok,
    );
    s.exec(Cat::Reloptions, "REINDEX INDEX r_v", Expect::Code("22023"));
    index_works(
        s,
        Cat::Reloptions,
        "ivfpq after the failed REINDEX",
        "r_v",
        "r",
    );
    s.setup("DROP INDEX r_v");

    // Random integers, predicted.
    let mut rng = Rng::new(6004);
    let wild = |rng: &mut Rng, lo: i64, hi: i64| -> i64 {
        match below(rng, 5) {
            0 => rng.next_u64() as i32 as i64,
            1 => lo - 3 + below(rng, 6) as i64,
            2 => hi - 3 + below(rng, 6) as i64,
            _ => lo + below(rng, (hi - lo + 1) as usize) as i64,
        }
    };
    for _ in 0..120 {
        let (m, ef) = (wild(&mut rng, 2, 100), wild(&mut rng, 4, 1000));
        let sql = format!("{hnsw} WITH (m = {m}, ef_construction = {ef})");
        let expect = if hnsw_ok(m, ef) {
            Expect::Ok
        } else {
            Expect::Code("22023")
        };
        if s.exec(Cat::Reloptions, &sql, expect) {
            index_works(s, Cat::Reloptions, &sql, "r_v", "r");
            s.setup("DROP INDEX r_v");
        }
    }
    for _ in 0..120 {
        let lists = match below(&mut rng, 3) {
            0 => wild(&mut rng, 0, 32_768),
            _ => below(&mut rng, 120) as i64,
        };
        let pq_m = match below(&mut rng, 3) {
            0 => wild(&mut rng, 0, 16_000),
            _ => below(&mut rng, 11) as i64 - 1,
        };
        let bits = match below(&mut rng, 3) {
            0 => rng.next_u64() as i32 as i64,
            _ => below(&mut rng, 11) as i64 - 1,
        };
        let sql = format!("{ivf} WITH (lists = {lists}, pq_m = {pq_m}, pq_bits = {bits})");
        let expect = if ivfpq_ok(lists, pq_m, bits, 8) {
            Expect::Ok
        } else {
            Expect::Code("22023")
        };
        if s.exec(Cat::Reloptions, &sql, expect) {
            index_works(s, Cat::Reloptions, &sql, "r_v", "r");
            s.setup("DROP INDEX r_v");
        }
    }
    s.setup("DROP INDEX IF EXISTS r_v; RESET enable_seqscan");
}

// ------------------------------------------------------------------------------------------------
// 5. Settings.
// ------------------------------------------------------------------------------------------------

/// (name, min, max) of each integer setting (src/gucs.rs).
const GUCS: [(&str, i64, i64); 5] = [
    ("vecx.hnsw_ef_search", 1, 1000),
    ("vecx.max_scan_tuples", 0, i32::MAX as i64),
    ("vecx.ivfpq_probes", 0, 32_768),
    ("vecx.ivfpq_rerank", 0, 1000),
    ("vecx.build_threads", -1, 256),
];

/// Searches the two small indexes of the GUC section: whatever the settings, they must succeed
/// with at most `LIMIT` rows.
fn probe_searches(s: &mut Suite, label: &str) {
    for t in ["gh", "gi"] {
        let sql = format!("SELECT id FROM {t} ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 7");
        match s.db.query(&sql, &[]) {
            // A low vecx.max_scan_tuples may cut the answer short, even to nothing.
            Ok(rows) if rows.len() <= 7 => {}
            Ok(rows) => s.fail(Cat::Guc, label, format!("{t}: {} rows", rows.len())),
            Err(e) => s.fail(Cat::Guc, label, format!("{t}: search failed: {e}")),
        }
    }
}

fn settings(s: &mut Suite) {
    s.setup(
        "CREATE TABLE gh (id int, v vecx(4)); CREATE TABLE gi (id int, v vecx(4));
         INSERT INTO gh SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[] FROM generate_series(1, 200) i;
         INSERT INTO gi SELECT * FROM gh;
         CREATE INDEX ON gh USING vecx_hnsw (v vecx_l2_ops);
         CREATE INDEX ON gi USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 8);
         SET enable_seqscan = off",
    );
    for (name, lo, hi) in GUCS {
        for (v, expect) in [
            (format!("{}", lo - 1), Expect::Code("22023")),
            (format!("{}", hi + 1), Expect::Code("22023")),
            (format!("{lo}"), Expect::Ok),
            (format!("{hi}"), Expect::Ok),
            ("'abc'".to_string(), Expect::Code("22023")),
            ("''".to_string(), Expect::Code("22023")),
            ("'10ms'".to_string(), Expect::Code("22023")),
            ("'10 kB'".to_string(), Expect::Code("22023")),
            ("99999999999999999999".to_string(), Expect::Code("22023")),
            ("'-9223372036854775809'".to_string(), Expect::Code("22023")),
            ("'NaN'".to_string(), Expect::Code("22023")),
            ("'1.5'".to_string(), Expect::Either),
            ("'1e2'".to_string(), Expect::Either),
            ("'0x10'".to_string(), Expect::Either),
            ("on".to_string(), Expect::Code("22023")),
            ("DEFAULT".to_string(), Expect::Ok),
        ] {
            let sql = format!("SET {name} = {v}");
            if s.exec(Cat::Guc, &sql, expect) && name != "vecx.build_threads" {
                probe_searches(s, &sql);
            }
        }
        s.setup(&format!("RESET {name}"));
        s.query(
            Cat::Guc,
            &format!("SELECT set_config('{name}', 'garbage', false)"),
            &[],
            Expect::Code("22023"),
        );
    }
    // Misspelled names under the reserved prefix, and unknown names read back.
    for sql in [
        "SET vecx.hnsw_efsearch = 10",
        "SET vecx.ef_search = 10",
        "SET vecx.HNSW_EF_SEARCH_ = 1",
        "SELECT set_config('vecx.probes', '1', false)",
        "SET LOCAL vecx.nothing = 1",
        "RESET vecx.nothing",
    ] {
        s.exec(Cat::Guc, sql, Expect::Code("42602"));
    }
    // ALTER SYSTEM looks the name up without creating a placeholder: "unrecognized
    // configuration parameter" (42704); ALTER DATABASE validates it like SET (42602).
    s.exec(
        Cat::Guc,
        "ALTER SYSTEM SET vecx.nothing = 1",
        Expect::Code("42704"),
    );
    s.exec(
        Cat::Guc,
        "ALTER DATABASE postgres SET vecx.nothing = 1",
        Expect::Code("42602"),
    );
    for sql in [
        "SHOW vecx.nothing",
        "SELECT current_setting('vecx.nothing')",
    ] {
        s.exec(Cat::Guc, sql, Expect::Code("42704"));
    }
    // Out of range in persistent places is refused too.
    s.exec(
        Cat::Guc,
        "ALTER SYSTEM SET vecx.hnsw_ef_search = 0",
        Expect::Code("22023"),
    );
    s.exec(
        Cat::Guc,
        "ALTER DATABASE postgres SET vecx.ivfpq_probes = -5",
        Expect::Code("22023"),
    );
    // Random integers, predicted and read back; a search after each accepted value.
    let mut rng = Rng::new(6005);
    for _ in 0..80 {
        for (name, lo, hi) in GUCS {
            let v: i64 = match below(&mut rng, 4) {
                0 => rng.next_u64() as i32 as i64,
                1 => lo - 2 + below(&mut rng, 5) as i64,
                2 => hi.min(1 << 20) - 2 + below(&mut rng, 5) as i64,
                _ => lo + below(&mut rng, (hi.min(5000) - lo + 1) as usize) as i64,
            };
            let ok = (lo..=hi).contains(&v);
            let sql = format!("SET {name} = {v}");
            if s.exec(
                Cat::Guc,
                &sql,
                if ok {
                    Expect::Ok
                } else {
                    Expect::Code("22023")
                },
            ) {
                let shown =
                    s.db.query_one(&format!("SHOW {name}"), &[])
                        .map(|r| r.get::<_, String>(0));
                if shown.as_deref().ok() != Some(v.to_string().as_str()) {
                    s.fail(Cat::Guc, &sql, format!("SHOW says {shown:?}"));
                }
            }
        }
        probe_searches(s, "random settings");
    }
    // Extreme combinations, then builds at the thread limits.
    s.setup(
        "SET vecx.hnsw_ef_search = 1000; SET vecx.ivfpq_probes = 32768; SET vecx.ivfpq_rerank = 1000; SET vecx.max_scan_tuples = 1",
    );
    probe_searches(s, "extreme settings, scan cap 1");
    s.setup("RESET ALL; SET enable_seqscan = off");
    for threads in [256, 1, 0, -1] {
        s.exec(
            Cat::Guc,
            &format!("SET vecx.build_threads = {threads}; CREATE INDEX gh_t ON gh USING vecx_hnsw (v vecx_l2_ops); CREATE INDEX gi_t ON gi USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 4); DROP INDEX gh_t, gi_t"),
            Expect::Ok,
        );
    }
    s.setup("RESET ALL");
}

// ------------------------------------------------------------------------------------------------
// 6. Functions, operators, casts, aggregates.
// ------------------------------------------------------------------------------------------------

/// `subvector` as documented: `count` elements from 1-based `start`, clipped to the vector;
/// `None` when that selects nothing or `count < 1`.
fn subvector_ref(v: &[f32], start: i32, count: i32) -> Option<Vec<f32>> {
    if count < 1 {
        return None;
    }
    let (from, to) = (start as i64, start as i64 + count as i64);
    let out: Vec<f32> = v
        .iter()
        .enumerate()
        .filter(|(i, _)| (from..to).contains(&(*i as i64 + 1)))
        .map(|(_, x)| *x)
        .collect();
    (!out.is_empty()).then_some(out)
}

fn functions(s: &mut Suite) {
    let big = "(SELECT array_agg(1::real) FROM generate_series(1, 10000))::vecx";
    let concat_over = format!("SELECT vecx_dims({big} || {big})");
    let concat_16000 = format!("SELECT vecx_dims({big} || subvector({big}, 1, 6000))");
    let concat_16001 = format!("SELECT vecx_dims({big} || subvector({big}, 1, 6001))");
    let c = Expect::Code;
    let fixed: Vec<(String, Expect)> = [
        // Arithmetic: mismatched dimensions, overflow, underflow.
        ("SELECT '[1,2]'::vecx + '[1,2,3]'", c("22000")),
        ("SELECT '[1,2]'::vecx - '[1]'", c("22000")),
        ("SELECT '[1,2]'::vecx * '[1,2,3]'", c("22000")),
        ("SELECT '[3e38,3e38]'::vecx * '[3e38,1]'", c("22003")),
        ("SELECT '[3e38]'::vecx + '[3e38]'", c("22003")),
        ("SELECT '[-3e38]'::vecx - '[3e38]'", c("22003")),
        ("SELECT '[1e-30]'::vecx * '[1e-30]'", c("22003")),
        ("SELECT '[3.4028235e38]'::vecx + '[0]'", Expect::Ok),
        ("SELECT '[0]'::vecx * '[3e38]'", Expect::Ok),
        // Concatenation up to and past the limit.
        (concat_over.as_str(), c("54000")),
        (concat_16000.as_str(), Expect::Ok),
        (concat_16001.as_str(), c("54000")),
        // subvector at the edges of int4.
        ("SELECT subvector('[1,2,3]', -2147483648, 2147483647)", c("22000")),
        ("SELECT subvector('[1,2,3]', 2147483647, 2147483647)", c("22000")),
        ("SELECT subvector('[1,2,3]', -2147483648, -2147483648)", c("22000")),
        ("SELECT subvector('[1,2,3]', 0, 1)", c("22000")),
        ("SELECT subvector('[1,2,3]', 0, 2)", Expect::Ok),
        ("SELECT subvector('[1,2,3]', 1, 0)", c("22000")),
        ("SELECT subvector('[1,2,3]', 1, -1)", c("22000")),
        ("SELECT subvector('[1,2,3]', 4, 1)", c("22000")),
        ("SELECT subvector('[1,2,3]', -2147483647, 2147483647)", c("22000")),
        ("SELECT subvector('[1,2,3]', 2, 2147483647)", Expect::Ok),
        ("SELECT subvector('[1,2,3]', -2147483648, 2147483647) IS NULL", c("22000")),
        // Distances between mismatched vectors; zero and huge vectors.
        ("SELECT '[1,2]'::vecx <-> '[1,2,3]'", c("22000")),
        ("SELECT '[1,2]'::vecx <#> '[1,2,3]'", c("22000")),
        ("SELECT '[1,2]'::vecx <=> '[1,2,3]'", c("22000")),
        ("SELECT '[1,2]'::vecx <+> '[1,2,3]'", c("22000")),
        ("SELECT l2_distance('[1]', '[1,2]')", c("22000")),
        ("SELECT inner_product('[1]', '[1,2]')", c("22000")),
        ("SELECT vecx_l2_squared_distance('[1]', '[1,2]')", c("22000")),
        ("SELECT cosine_distance('[1]', '[1,2]')", c("22000")),
        ("SELECT l1_distance('[1]', '[1,2]')", c("22000")),
        ("SELECT '[0,0]'::vecx <=> '[1,1]'", Expect::Ok),
        ("SELECT '[0,0]'::vecx <=> '[0,0]'", Expect::Ok),
        ("SELECT '[3e38,-3e38]'::vecx <-> '[-3e38,3e38]'", Expect::Ok),
        ("SELECT '[3e38,3e38]'::vecx <#> '[3e38,3e38]'", Expect::Ok),
        ("SELECT vecx_norm('[3e38,3e38,3e38]')", Expect::Ok),
        ("SELECT l2_normalize('[3e38,3e38,3e38]')", Expect::Ok),
        ("SELECT l2_normalize('[1e-45,0]')", Expect::Ok),
        ("SELECT l2_normalize('[0,0]')", Expect::Ok),
        // Comparisons between different lengths are a total order, not an error.
        ("SELECT '[1,2]'::vecx < '[1,2,3]', '[1]'::vecx = '[1,0]'", Expect::Ok),
        // Casts from arrays.
        ("SELECT ARRAY[1,NULL]::real[]::vecx", c("22004")),
        ("SELECT ARRAY[NULL]::real[]::vecx", c("22004")),
        ("SELECT ARRAY[1,NULL]::float8[]::vecx", c("22004")),
        ("SELECT ARRAY[1,NULL]::int[]::vecx", c("22004")),
        ("SELECT ARRAY[1,NULL]::numeric[]::vecx", c("22004")),
        ("SELECT '{}'::real[]::vecx", c("22000")),
        ("SELECT '{}'::float8[]::vecx", c("22000")),
        ("SELECT '{}'::int[]::vecx", c("22000")),
        ("SELECT '{{1,2},{3,4}}'::real[]::vecx", c("22000")),
        ("SELECT '{{1,2},{3,4}}'::float8[]::vecx", c("22000")),
        ("SELECT '{{{1}}}'::int[]::vecx", c("22000")),
        ("SELECT '[5:6]={1,2}'::real[]::vecx", Expect::Ok),
        ("SELECT '{NaN}'::real[]::vecx", c("22000")),
        ("SELECT '{Infinity}'::real[]::vecx", c("22000")),
        ("SELECT '{-Infinity}'::float8[]::vecx", c("22000")),
        ("SELECT '{NaN}'::float8[]::vecx", c("22000")),
        ("SELECT '{1e39}'::float8[]::vecx", c("22003")),
        ("SELECT '{1e-50}'::float8[]::vecx", c("22003")),
        ("SELECT '{1e308}'::float8[]::vecx", c("22003")),
        ("SELECT '{1e39}'::numeric[]::vecx", c("22003")),
        ("SELECT '{NaN}'::numeric[]::vecx", c("22000")),
        ("SELECT array_fill(1::real, ARRAY[16001])::vecx", c("54000")),
        ("SELECT array_fill(1::float8, ARRAY[100000])::vecx", c("54000")),
        ("SELECT vecx_dims(array_fill(1::int, ARRAY[16000])::vecx)", Expect::Ok),
        ("SELECT '[1,2]'::vecx::real[]::vecx(3)", c("22000")),
        // Aggregates.
        ("SELECT sum(v) FROM (VALUES ('[3e38]'::vecx), ('[3e38]')) t(v)", c("22003")),
        ("SELECT avg(v) FROM (VALUES ('[3e38]'::vecx), ('[3e38]')) t(v)", Expect::Ok),
        ("SELECT avg(v) FROM (VALUES ('[3e38,-3e38]'::vecx), ('[3e38,-3e38]'), ('[3e38,-3e38]')) t(v)", Expect::Ok),
        ("SELECT avg(v) FROM (VALUES ('[1,2]'::vecx), ('[1,2,3]')) t(v)", c("22000")),
        ("SELECT sum(v) FROM (VALUES ('[1]'::vecx), ('[1,2]')) t(v)", c("22000")),
        ("SELECT avg(v) FROM (VALUES (NULL::vecx), (NULL)) t(v)", Expect::Ok),
        ("SELECT avg(v), sum(v) FROM (SELECT '[1]'::vecx v WHERE false) t", Expect::Ok),
        // The support functions called with states no aggregate builds.
        ("SELECT vecx_avg('{}')", Expect::Ok),
        ("SELECT vecx_avg('{0}')", Expect::Ok),
        ("SELECT vecx_avg('{-1,5}')", Expect::Ok),
        ("SELECT vecx_avg('{NaN,5}')", Expect::Ok),
        ("SELECT vecx_avg('{1e-300,1}')", c("22003")),
        ("SELECT vecx_sum('{1,1e300}')", c("22003")),
        ("SELECT vecx_sum('{1,NaN}')", c("22003")),
        ("SELECT vecx_sum('{1,Infinity}')", c("22003")),
        ("SELECT vecx_avg('{{1,2},{3,4}}')", c("22000")),
        ("SELECT vecx_avg(ARRAY[1,NULL]::float8[])", c("22004")),
        ("SELECT vecx_sum(array_fill(1::float8, ARRAY[16002]))", c("54000")),
        ("SELECT vecx_avg(array_fill(1::float8, ARRAY[100000]))", c("54000")),
        ("SELECT vecx_sum(array_fill(1::float8, ARRAY[65538]))", c("54000")),
        ("SELECT vecx_accum('{1,2,3}', '[1]')", c("22000")),
        ("SELECT vecx_accum('{1,2}', '[1]')", Expect::Ok),
        ("SELECT vecx_accum('{{1,2}}', '[1]')", c("22000")),
        ("SELECT vecx_accum(ARRAY[1,NULL]::float8[], '[1]')", c("22004")),
        ("SELECT vecx_combine('{1,1}', '{1,1,1}')", c("22000")),
        ("SELECT vecx_combine('{1,1}', '{{1,1}}')", c("22000")),
        ("SELECT vecx_combine('{}', '{}')", Expect::Ok),
        // Introspection of relations that are not vecx indexes.
        ("SELECT vecx_index_check('pg_class')", c("42809")),
        ("SELECT vecx_index_check('pg_class_oid_index')", c("42809")),
        ("SELECT * FROM vecx_index_stats('pg_class_relname_nsp_index')", c("42809")),
        ("SELECT vecx_index_check(0)", c("42809")),
        ("SELECT * FROM vecx_index_stats(4294967295)", c("42809")),
        ("SELECT vecx_index_check(NULL)", Expect::Ok),
    ]
    .into_iter()
    .map(|(sql, e)| (sql.to_string(), e))
    .collect();
    for (sql, expect) in &fixed {
        s.query(Cat::Functions, sql, &[], expect.clone());
    }
    // Parallel aggregation: partial states from the workers meet in vecx_combine.
    s.setup(
        "CREATE TABLE pa (v vecx);
         INSERT INTO pa SELECT ARRAY[i, -i, 1e37]::real[] FROM generate_series(1, 60000) i;
         SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
         SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2",
    );
    let plan =
        s.db.query("EXPLAIN SELECT avg(v) FROM pa", &[])
            .map(|r| {
                r.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
    if !plan.contains("Partial Aggregate") {
        s.fail(
            Cat::Functions,
            "parallel avg",
            format!("not a parallel plan:\n{plan}"),
        );
    }
    s.query(Cat::Functions, "SELECT avg(v) FROM pa", &[], Expect::Ok);
    // 60,000 * 1e37 is past float4: the sum overflows, the average does not.
    s.query(
        Cat::Functions,
        "SELECT sum(v) FROM pa",
        &[],
        Expect::Code("22003"),
    );
    s.setup("INSERT INTO pa VALUES ('[1,2]')");
    s.query(
        Cat::Functions,
        "SELECT avg(v) FROM pa",
        &[],
        Expect::Code("22000"),
    );
    s.query(
        Cat::Functions,
        "SELECT sum(v) FROM pa",
        &[],
        Expect::Code("22000"),
    );
    s.setup("DROP TABLE pa; RESET ALL");
    // OIDs below 16384 (FirstNormalObjectId): catalogs, their indexes, toast tables, types,
    // functions, or nothing at all; never a vecx index.
    let mut rng = Rng::new(6006);
    for _ in 0..200 {
        let oid = below(&mut rng, 16_384);
        s.query(
            Cat::Functions,
            &format!("SELECT vecx_index_check({oid}::oid::regclass)"),
            &[],
            Expect::Code("42809"),
        );
    }
    // Random subvector bounds against the reference.
    let v: Vec<f32> = (1..=10).map(|i| i as f32).collect();
    let edges = [
        i32::MIN,
        i32::MIN + 1,
        -11,
        -1,
        0,
        1,
        2,
        9,
        10,
        11,
        i32::MAX - 1,
        i32::MAX,
    ];
    for k in 0..600 {
        let draw = |rng: &mut Rng| match below(rng, 3) {
            0 => *pick(rng, &edges),
            1 => below(rng, 30) as i32 - 15,
            _ => rng.next_u64() as i32,
        };
        let (start, count) = (draw(&mut rng), draw(&mut rng));
        let want = subvector_ref(&v, start, count);
        let expect = if want.is_some() {
            Expect::Ok
        } else {
            Expect::Code("22000")
        };
        let label = format!("subvector(1..10, {start}, {count}) #{k}");
        if let Some(rows) = s.query_labelled(
            Cat::Functions,
            &label,
            "SELECT subvector($1, $2, $3)::real[]",
            &[&VecParam(&v), &start, &count],
            expect,
        ) {
            let got: Vec<f32> = rows[0].get(0);
            if Some(&got) != want.as_ref() {
                s.fail(
                    Cat::Functions,
                    &label,
                    format!("got {got:?}, expected {want:?}"),
                );
            }
        }
    }
    // Random arithmetic against IEEE float4.
    for k in 0..800 {
        let dims = 1 + below(&mut rng, 6);
        let a: Vec<f32> = (0..dims).map(|_| wild_f32(&mut rng)).collect();
        let bdims = if below(&mut rng, 8) == 0 {
            1 + below(&mut rng, 6)
        } else {
            dims
        };
        let b: Vec<f32> = (0..bdims).map(|_| wild_f32(&mut rng)).collect();
        let op = *pick(&mut rng, &["+", "-", "*", "||"]);
        let want: Result<Vec<f32>, &'static str> = if op == "||" {
            Ok(a.iter().chain(&b).copied().collect())
        } else if dims != bdims {
            Err("22000")
        } else {
            let mut out = Vec::new();
            let mut err = None;
            for (x, y) in a.iter().zip(&b) {
                let r = match op {
                    "+" => x + y,
                    "-" => x - y,
                    _ => x * y,
                };
                if !r.is_finite() || (op == "*" && r == 0.0 && *x != 0.0 && *y != 0.0) {
                    err = Some("22003");
                }
                out.push(r);
            }
            err.map_or(Ok(out), Err)
        };
        let expect = match want {
            Ok(_) => Expect::Ok,
            Err(code) => Expect::Code(code),
        };
        let label = format!("{a:?} {op} {b:?} #{k}");
        let sql = format!("SELECT ($1::vecx {op} $2::vecx)::real[]");
        if let Some(rows) = s.query_labelled(
            Cat::Functions,
            &label,
            &sql,
            &[&VecParam(&a), &VecParam(&b)],
            expect,
        ) {
            let got: Vec<f32> = rows[0].get(0);
            if let Ok(w) = &want {
                if !same_bits(&got, w) {
                    s.fail(Cat::Functions, &label, format!("got {got:?}"));
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// 7. Index scans with hostile queries.
// ------------------------------------------------------------------------------------------------

/// (access method, operator class, operator, extra WITH clause)
const OPCLASSES: [(&str, &str, &str, &str); 7] = [
    ("vecx_hnsw", "vecx_l2_ops", "<->", ""),
    ("vecx_hnsw", "vecx_ip_ops", "<#>", ""),
    ("vecx_hnsw", "vecx_cosine_ops", "<=>", ""),
    ("vecx_hnsw", "vecx_l1_ops", "<+>", ""),
    (
        "vecx_ivfpq",
        "vecx_l2_ops",
        "<->",
        "WITH (lists = 8, pq_m = 2)",
    ),
    (
        "vecx_ivfpq",
        "vecx_ip_ops",
        "<#>",
        "WITH (lists = 8, pq_m = 2)",
    ),
    (
        "vecx_ivfpq",
        "vecx_cosine_ops",
        "<=>",
        "WITH (lists = 8, pq_m = 2)",
    ),
];

const ROWS: i64 = 300;

/// Runs an index-ordered query and checks the number of rows (`want`), and that the plan
/// really is an index scan.
fn scan_case(
    s: &mut Suite,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    expect: Expect,
    want: Option<usize>,
) {
    if let Some(rows) = s.query(Cat::IndexScans, sql, params, expect) {
        if let Some(n) = want {
            if rows.len() != n {
                s.fail(
                    Cat::IndexScans,
                    sql,
                    format!("{} rows, expected {n}", rows.len()),
                );
            }
        }
        let ids: std::collections::HashSet<i32> = rows.iter().map(|r| r.get::<_, i32>(0)).collect();
        if ids.len() != rows.len() {
            s.fail(Cat::IndexScans, sql, "a row was returned twice".into());
        }
    }
}

fn index_scans(s: &mut Suite) {
    s.setup("SET enable_seqscan = off");
    for (i, (am, opclass, op, with)) in OPCLASSES.iter().enumerate() {
        let t = format!("x{i}");
        // Rows: regular vectors, a few zero vectors and exact duplicates.
        s.setup(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, v vecx(4));
             INSERT INTO {t} SELECT i, CASE WHEN i % 50 = 0 THEN '[0,0,0,0]'::vecx
                                             WHEN i % 37 = 0 THEN '[1,1,1,1]'::vecx
                                             ELSE ARRAY[sin(i), cos(i), sin(3 * i), cos(5 * i)]::real[]::vecx END
             FROM generate_series(1, {ROWS}) i;
             CREATE INDEX {t}_v ON {t} USING {am} (v {opclass}) {with}"
        ));
        let q = |query: &str, limit: i64| {
            format!("SELECT id FROM {t} ORDER BY v {op} {query} LIMIT {limit}")
        };
        let plan: String =
            s.db.query(&format!("EXPLAIN {}", q("'[1,0,0,0]'", 5)), &[])
                .map(|r| {
                    r.iter()
                        .map(|r| r.get::<_, String>(0))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
        if !plan.contains("Index Scan") {
            s.fail(Cat::IndexScans, &t, format!("not an index scan:\n{plan}"));
        }
        let all = ROWS as usize;
        scan_case(s, &q("NULL", 5), &[], Expect::Ok, Some(5));
        scan_case(s, &q("NULL::vecx", 1000), &[], Expect::Ok, Some(all));
        scan_case(s, &q("(SELECT NULL::vecx)", 10), &[], Expect::Ok, Some(10));
        let none: Option<VecParam> = None;
        scan_case(
            s,
            &format!("SELECT id FROM {t} ORDER BY v {op} $1 LIMIT 5"),
            &[&none],
            Expect::Ok,
            Some(5),
        );
        scan_case(s, &q("'[1,2,3]'", 5), &[], Expect::Code("22000"), None);
        scan_case(s, &q("'[1,2,3,4,5]'", 5), &[], Expect::Code("22000"), None);
        scan_case(
            s,
            &q("'[1,2,3,4,5]'::vecx(4)", 5),
            &[],
            Expect::Code("22000"),
            None,
        );
        let wrong = [1.0f32; 5];
        scan_case(
            s,
            &format!("SELECT id FROM {t} ORDER BY v {op} $1 LIMIT 5"),
            &[&VecParam(&wrong)],
            Expect::Code("22000"),
            None,
        );
        scan_case(s, &q("'[0,0,0,0]'", 5), &[], Expect::Ok, Some(5));
        scan_case(s, &q("'[0,0,0,0]'", 1000), &[], Expect::Ok, None);
        scan_case(
            s,
            &q("'[3e38,3e38,-3e38,3e38]'", 5),
            &[],
            Expect::Ok,
            Some(5),
        );
        scan_case(s, &q("'[1e-45,0,-1e-45,0]'", 5), &[], Expect::Ok, Some(5));
        scan_case(s, &q("'[1,0,0,0]'", 0), &[], Expect::Ok, Some(0));
        scan_case(
            s,
            &format!("{} OFFSET 1000000", q("'[1,0,0,0]'", 5)),
            &[],
            Expect::Ok,
            Some(0),
        );
        scan_case(
            s,
            &format!("SELECT id FROM {t} WHERE id < 0 ORDER BY v {op} '[1,0,0,0]' LIMIT 5"),
            &[],
            Expect::Ok,
            Some(0),
        );
        // Random query vectors of any magnitude (and now and then the wrong length).
        let mut rng = Rng::new(6007 + i as u64);
        for _ in 0..60 {
            let dims = if below(&mut rng, 10) == 0 {
                1 + below(&mut rng, 8)
            } else {
                4
            };
            let qv: Vec<f32> = (0..dims).map(|_| wild_f32(&mut rng)).collect();
            let (expect, want) = if dims == 4 {
                (Expect::Ok, Some(5))
            } else {
                (Expect::Code("22000"), None)
            };
            let sql = format!("SELECT id FROM {t} ORDER BY v {op} $1 LIMIT 5");
            scan_case(s, &sql, &[&VecParam(&qv)], expect, want);
        }
        s.setup("SET vecx.max_scan_tuples = 1");
        if let Some(rows) = s.query(Cat::IndexScans, &q("'[1,0,0,0]'", 5), &[], Expect::Ok) {
            if rows.len() > 5 {
                s.fail(
                    Cat::IndexScans,
                    &t,
                    format!("{} rows with LIMIT 5", rows.len()),
                );
            }
        }
        s.setup("RESET vecx.max_scan_tuples");
        // Writes: NULL and zero vectors into the index; a wrong dimension count is refused by
        // the column, then by the index on an unconstrained column.
        s.exec(Cat::IndexScans, &format!("INSERT INTO {t} VALUES (100001, NULL), (100002, '[0,0,0,0]'), (100003, '[3e38,-3e38,3e38,-3e38]')"), Expect::Ok);
        s.exec(
            Cat::IndexScans,
            &format!("INSERT INTO {t} VALUES (100004, '[1,2,3]')"),
            Expect::Code("22000"),
        );
        scan_case(s, &q("'[0,0,0,0]'", 5), &[], Expect::Ok, Some(5));
        let ok =
            s.db.query_one(&format!("SELECT vecx_index_check('{t}_v')"), &[])
                .map(|r| r.get::<_, bool>(0));
        if !matches!(ok, Ok(true)) {
            s.fail(
                Cat::IndexScans,
                &t,
                format!("vecx_index_check after hostile writes: {ok:?}"),
            );
        }
        s.setup(&format!("DROP TABLE {t}"));
    }
    // Unconstrained columns: mixed dimensions at build time and after.
    for (am, with) in [("vecx_hnsw", ""), ("vecx_ivfpq", "WITH (lists = 2)")] {
        s.setup("CREATE TABLE u (id int, v vecx); INSERT INTO u SELECT i, ARRAY[i, 1, 2]::real[] FROM generate_series(1, 50) i");
        s.exec(
            Cat::IndexScans,
            &format!("CREATE INDEX u_v ON u USING {am} (v vecx_l2_ops) {with}"),
            Expect::Ok,
        );
        s.exec(
            Cat::IndexScans,
            "INSERT INTO u VALUES (51, '[1,2]')",
            Expect::Code("22000"),
        );
        s.exec(
            Cat::IndexScans,
            "INSERT INTO u VALUES (52, '[1,2,3,4]')",
            Expect::Code("22000"),
        );
        scan_case(
            s,
            "SELECT id FROM u ORDER BY v <-> '[1,2]' LIMIT 5",
            &[],
            Expect::Code("22000"),
            None,
        );
        scan_case(
            s,
            "SELECT id FROM u ORDER BY v <-> '[1,2,3]' LIMIT 5",
            &[],
            Expect::Ok,
            Some(5),
        );
        s.setup("DROP INDEX u_v");
        s.setup("INSERT INTO u VALUES (53, '[1,2,3,4]')");
        s.exec(
            Cat::IndexScans,
            &format!("CREATE INDEX u_v ON u USING {am} (v vecx_l2_ops) {with}"),
            Expect::Code("22000"),
        );
        // Empty table, then a NULL-only table: a search finds nothing, cleanly.
        s.setup("TRUNCATE u");
        s.exec(
            Cat::IndexScans,
            &format!("CREATE INDEX u_v ON u USING {am} (v vecx_l2_ops) {with}"),
            Expect::Ok,
        );
        scan_case(
            s,
            "SELECT id FROM u ORDER BY v <-> '[1,2,3]' LIMIT 5",
            &[],
            Expect::Ok,
            Some(0),
        );
        scan_case(
            s,
            "SELECT id FROM u ORDER BY v <-> NULL LIMIT 5",
            &[],
            Expect::Ok,
            Some(0),
        );
        s.exec(
            Cat::IndexScans,
            "INSERT INTO u VALUES (1, NULL), (2, NULL)",
            Expect::Ok,
        );
        scan_case(
            s,
            "SELECT id FROM u ORDER BY v <-> '[1,2,3]' LIMIT 5",
            &[],
            Expect::Ok,
            None,
        );
        s.exec(
            Cat::IndexScans,
            "INSERT INTO u VALUES (3, '[1,2,3]'), (4, '[0,0,0]')",
            Expect::Ok,
        );
        scan_case(
            s,
            "SELECT id FROM u WHERE v IS NOT NULL ORDER BY v <-> '[1,2,3]' LIMIT 5",
            &[],
            Expect::Ok,
            Some(2),
        );
        scan_case(
            s,
            "SELECT id FROM u WHERE v IS NOT NULL ORDER BY v <-> '[1,2]' LIMIT 5",
            &[],
            Expect::Code("22000"),
            None,
        );
        s.setup("DROP TABLE u");
    }
    // Builds on vectors at float4's limits: every distance overflows float4.
    for (am, opclass, with) in [
        ("vecx_hnsw", "vecx_l2_ops", ""),
        ("vecx_hnsw", "vecx_ip_ops", ""),
        ("vecx_hnsw", "vecx_cosine_ops", ""),
        ("vecx_ivfpq", "vecx_l2_ops", "WITH (lists = 4)"),
        ("vecx_ivfpq", "vecx_ip_ops", "WITH (lists = 4)"),
        ("vecx_ivfpq", "vecx_cosine_ops", "WITH (lists = 4)"),
    ] {
        s.setup(
            "CREATE TABLE e (id int, v vecx(4));
             INSERT INTO e SELECT i, ARRAY[CASE WHEN i % 2 = 0 THEN 3.4e38 ELSE -3.4e38 END, 3.4e38 * sin(i), 1e-45 * (i % 3), 0]::real[]
             FROM generate_series(1, 200) i",
        );
        let sql = format!("CREATE INDEX e_v ON e USING {am} (v {opclass}) {with}");
        if s.exec(Cat::IndexScans, &sql, Expect::Either) {
            let ok =
                s.db.query_one("SELECT vecx_index_check('e_v')", &[])
                    .map(|r| r.get::<_, bool>(0));
            if !matches!(ok, Ok(true)) {
                s.fail(Cat::IndexScans, &sql, format!("vecx_index_check: {ok:?}"));
            }
            let op = match opclass {
                "vecx_l2_ops" => "<->",
                "vecx_ip_ops" => "<#>",
                _ => "<=>",
            };
            for query in [
                "'[3e38,3e38,3e38,3e38]'",
                "'[0,0,0,0]'",
                "'[1,0,0,0]'",
                "NULL",
            ] {
                scan_case(
                    s,
                    &format!("SELECT id FROM e ORDER BY v {op} {query} LIMIT 10"),
                    &[],
                    Expect::Ok,
                    Some(10),
                );
            }
            s.exec(
                Cat::IndexScans,
                "INSERT INTO e VALUES (1000, '[-3.4e38,3.4e38,-3.4e38,3.4e38]')",
                Expect::Ok,
            );
        }
        s.setup("DROP TABLE e");
    }
    s.setup("RESET ALL");
}

// ------------------------------------------------------------------------------------------------

#[test]
fn hostile_input_ends_in_success_or_a_clean_error() {
    let started = Instant::now();
    let mut s = Suite::new();
    text_input(&mut s);
    binary_input(&mut s);
    typmods(&mut s);
    reloptions(&mut s);
    settings(&mut s);
    functions(&mut s);
    index_scans(&mut s);

    // The session survived everything: the connection answers and no backend crashed.
    if let Err(e) = s.db.query_one("SELECT 1", &[]) {
        s.failures
            .push(format!("the connection does not answer at the end: {e}"));
    }
    let log = s.cluster.server_log();
    for bad in [
        "terminated by signal",
        "PANIC",
        // Rust's panic hook writes to the server's stderr even when pgrx turns the panic into
        // an ERROR.
        "panicked at",
        "terminating any other active server processes",
        "server process (PID",
    ] {
        if let Some(at) = log.find(bad) {
            let from = log[..at].rfind('\n').map_or(0, |i| i + 1);
            let line = log[from..].lines().next().unwrap_or("");
            s.failures.push(format!("server log: {line}"));
        }
    }

    let mut total = Tally::default();
    for cat in CATS {
        let t = s.tallies.remove(&cat).unwrap_or_default();
        let errors: usize = t.errors.values().sum();
        let codes: Vec<String> = t.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
        eprintln!(
            "hostile input: {} {} cases ({errors} errors, {} accepted; {})",
            cat.name(),
            t.cases,
            t.accepted,
            codes.join(", ")
        );
        total.cases += t.cases;
        total.accepted += t.accepted;
        for (c, n) in t.errors {
            *total.errors.entry(c).or_default() += n;
        }
    }
    let errors: usize = total.errors.values().sum();
    let internal = total.errors.get("XX000").copied().unwrap_or(0);
    eprintln!(
        "hostile input: total {} cases ({errors} errors, {} accepted; {internal} internal errors, {} failures) in {:.1?}",
        total.cases,
        total.accepted,
        s.failures.len(),
        started.elapsed()
    );
    if !s.failures.is_empty() {
        let n = s.failures.len();
        let shown: Vec<&String> = s.failures.iter().take(60).collect();
        panic!(
            "{n} hostile-input failures (first {}):\n{}",
            shown.len(),
            shown
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
