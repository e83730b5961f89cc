//! Byte-level reading of delimited text: records (lines, or quoted CSV records spanning lines),
//! fields, numbers and text decoding, without a `String` per line.
//!
//! [`Records`] strips a UTF-8 BOM, `\n` / `\r\n` endings and skips empty lines; [`Fields`]
//! splits one record (comma CSV with quotes, a single-byte separator, or `::`) into a reused
//! buffer. Text fields are decoded as UTF-8 and fall back to Latin-1 (ml-100k's `u.item` and
//! ml-1m's `movies.dat` are Latin-1).

use std::io::{self, BufRead};

/// Reads records from a buffered reader, one at a time, into a reused buffer.
#[derive(Debug)]
pub(crate) struct Records<R> {
    reader: R,
    buf: Vec<u8>,
    next_line: u64,
    quoted: bool,
    first: bool,
}

impl<R: BufRead> Records<R> {
    /// `quoted`: a `"` opens a quoted CSV field that may span lines.
    pub(crate) fn new(reader: R, quoted: bool) -> Self {
        Records { reader, buf: Vec::with_capacity(256), next_line: 1, quoted, first: true }
    }

    /// The next non-empty record: its 1-based starting line and its bytes without terminator.
    pub(crate) fn next_record(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            self.buf.clear();
            let start = self.next_line;
            let n = self.reader.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.next_line += 1;
            if self.quoted {
                while self.buf.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
                    let more = self.reader.read_until(b'\n', &mut self.buf)?;
                    if more == 0 {
                        break;
                    }
                    self.next_line += 1;
                }
            }
            let mut s: &[u8] = &self.buf;
            if self.first {
                self.first = false;
                if let Some(rest) = s.strip_prefix(b"\xEF\xBB\xBF") {
                    s = rest;
                }
            }
            let s = strip_terminator(s);
            if s.is_empty() {
                continue;
            }
            let off = s.as_ptr() as usize - self.buf.as_ptr() as usize;
            let len = s.len();
            return Ok(Some((start, &self.buf[off..off + len])));
        }
    }
}

fn strip_terminator(mut s: &[u8]) -> &[u8] {
    if let Some(r) = s.strip_suffix(b"\n") {
        s = r;
    }
    if let Some(r) = s.strip_suffix(b"\r") {
        s = r;
    }
    s
}

/// The separator of a layout's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// Comma-separated with `"` quoting (RFC 4180).
    Csv,
    /// A single byte (`\t`, `|`), no quoting.
    Byte(u8),
    /// The two bytes `::` (ml-1m / ml-10m).
    DoubleColon,
}

/// The fields of one record, unquoted, in a reused buffer.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    /// Splits `rec` with `sep`, replacing the previous contents.
    pub(crate) fn split(&mut self, rec: &[u8], sep: Sep) {
        self.buf.clear();
        self.ends.clear();
        match sep {
            Sep::Csv if rec.contains(&b'"') => self.split_quoted(rec),
            Sep::Csv => self.split_byte(rec, b','),
            Sep::Byte(b) => self.split_byte(rec, b),
            Sep::DoubleColon => {
                let mut start = 0;
                let mut i = 0;
                while i + 1 < rec.len() {
                    if rec[i] == b':' && rec[i + 1] == b':' {
                        self.buf.extend_from_slice(&rec[start..i]);
                        self.ends.push(self.buf.len());
                        i += 2;
                        start = i;
                    } else {
                        i += 1;
                    }
                }
                self.buf.extend_from_slice(&rec[start..]);
                self.ends.push(self.buf.len());
            }
        }
    }

    fn split_byte(&mut self, rec: &[u8], sep: u8) {
        for part in rec.split(|&b| b == sep) {
            self.buf.extend_from_slice(part);
            self.ends.push(self.buf.len());
        }
    }

    fn split_quoted(&mut self, rec: &[u8]) {
        let mut i = 0;
        let n = rec.len();
        loop {
            if i < n && rec[i] == b'"' {
                i += 1;
                while i < n {
                    if rec[i] == b'"' {
                        if i + 1 < n && rec[i + 1] == b'"' {
                            self.buf.push(b'"');
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    } else {
                        self.buf.push(rec[i]);
                        i += 1;
                    }
                }
            }
            while i < n && rec[i] != b',' {
                self.buf.push(rec[i]);
                i += 1;
            }
            self.ends.push(self.buf.len());
            if i >= n {
                break;
            }
            i += 1; // the comma
        }
    }

    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `i` (empty when out of range).
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        if i >= self.ends.len() {
            return &[];
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// Field `i` decoded (UTF-8, else Latin-1) and trimmed of whitespace including NBSP.
    pub(crate) fn text(&self, i: usize) -> String {
        decode(self.get(i)).trim().to_string()
    }
}

/// Trims ASCII whitespace from both ends.
pub(crate) fn trim_ascii(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// A non-negative integer id; `None` when the field is not one.
pub(crate) fn parse_id(s: &[u8]) -> Option<i64> {
    parse_uint(trim_ascii(s))
}

fn parse_uint(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(v)
}

/// A unix timestamp in seconds (non-negative integer).
pub(crate) fn parse_timestamp(s: &[u8]) -> Option<i64> {
    parse_uint(trim_ascii(s))
}

/// A finite float.
pub(crate) fn parse_f64(s: &[u8]) -> Option<f64> {
    let s = trim_ascii(s);
    // Fast path for ratings like `4`, `3.5`, `4.0`.
    match s {
        [d @ b'0'..=b'9'] => return Some(f64::from(d - b'0')),
        [d @ b'0'..=b'9', b'.', f @ b'0'..=b'9'] => return Some(f64::from(d - b'0') + f64::from(f - b'0') / 10.0),
        _ => {}
    }
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// An optional float: empty → `None`, unparseable → `None` too.
pub(crate) fn parse_opt_f64(s: &[u8]) -> Option<f64> {
    parse_f64(s)
}

/// Decodes text as UTF-8, falling back to Latin-1 (every byte is the code point).
pub(crate) fn decode(s: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(s) {
        Ok(v) => std::borrow::Cow::Borrowed(v),
        Err(_) => std::borrow::Cow::Owned(s.iter().map(|&b| char::from(b)).collect()),
    }
}

/// The release year of a MovieLens title such as `Toy Story (1995)` or `Babylon 5 (1994-1998)`:
/// the last parenthesised group that starts with four digits.
pub(crate) fn title_year(title: &str) -> Option<i32> {
    let t = title.trim_end();
    let t = t.strip_suffix(')')?;
    let open = t.rfind('(')?;
    let inner = t[open + 1..].trim();
    let digits: String = inner.chars().take(4).collect();
    if digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit()) {
        let rest = &inner[4..];
        if rest.is_empty() || rest.starts_with('-') || rest.starts_with('–') {
            let y: i32 = digits.parse().ok()?;
            return (1870..=2100).contains(&y).then_some(y);
        }
    }
    None
}

/// Normalises genres: `(no genres listed)` and empty become the empty string.
pub(crate) fn normalize_genres(g: &str) -> String {
    let g = g.trim();
    if g.eq_ignore_ascii_case("(no genres listed)") {
        return String::new();
    }
    g.split('|').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8], quoted: bool) -> Vec<(u64, Vec<u8>)> {
        let mut r = Records::new(input, quoted);
        let mut out = Vec::new();
        while let Some((l, rec)) = r.next_record().expect("read") {
            out.push((l, rec.to_vec()));
        }
        out
    }

    #[test]
    fn bom_crlf_and_blank_lines() {
        let out = records(b"\xEF\xBB\xBFa,b\r\n\r\n1,2\r\n3,4", false);
        assert_eq!(out, vec![(1, b"a,b".to_vec()), (3, b"1,2".to_vec()), (4, b"3,4".to_vec())]);
    }

    #[test]
    fn quoted_record_spans_lines() {
        let out = records(b"1,\"a\nb\",c\n2,x,y\n", true);
        assert_eq!(out, vec![(1, b"1,\"a\nb\",c".to_vec()), (3, b"2,x,y".to_vec())]);
    }

    #[test]
    fn csv_quotes() {
        let mut f = Fields::default();
        f.split(b"11,\"American President, The (1995)\",Comedy|Drama|Romance", Sep::Csv);
        assert_eq!(f.len(), 3);
        assert_eq!(f.get(1), b"American President, The (1995)");
        f.split(b"1,\"say \"\"hi\"\"\",", Sep::Csv);
        assert_eq!(f.len(), 3);
        assert_eq!(f.get(1), b"say \"hi\"");
        assert_eq!(f.get(2), b"");
        f.split(b"1::Toy Story (1995)::Animation", Sep::DoubleColon);
        assert_eq!(f.len(), 3);
        assert_eq!(f.get(2), b"Animation");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_id(b" 42 "), Some(42));
        assert_eq!(parse_id(b"u42"), None);
        assert_eq!(parse_id(b""), None);
        assert_eq!(parse_f64(b"3.5"), Some(3.5));
        assert_eq!(parse_f64(b"4"), Some(4.0));
        assert_eq!(parse_f64(b"4.25"), Some(4.25));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_timestamp(b"964982703"), Some(964982703));
        assert_eq!(parse_timestamp(b"2001-01-01"), None);
    }

    #[test]
    fn latin1_and_years() {
        assert_eq!(decode(b"Mis\xe9rables, Les (1995)"), "Misérables, Les (1995)");
        assert_eq!(title_year("Toy Story (1995)"), Some(1995));
        assert_eq!(title_year("Babylon 5 (1994-1998) "), Some(1994));
        assert_eq!(title_year("City of Lost Children, The (Cité des enfants perdus, La) (1995)"), Some(1995));
        assert_eq!(title_year("unknown"), None);
        assert_eq!(title_year("Movie (Original)"), None);
        assert_eq!(normalize_genres("(no genres listed)"), "");
        assert_eq!(normalize_genres("Action|Drama"), "Action|Drama");
        let mut f = Fields::default();
        f.split(b"Avatar\xc2\xa0  ,x", Sep::Csv);
        assert_eq!(f.text(0), "Avatar");
    }
}
