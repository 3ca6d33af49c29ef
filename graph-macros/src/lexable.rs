//! Whether rustc's lexer takes a source text without reporting anything: the scope scan
//! ([`crate::scope`]) reads whole files, and inside a proc macro `syn` lexes text with
//! rustc's own lexer, which reports what it rejects (a binary float `0b0e5`, an unknown
//! escape, a reserved prefix…) as errors at the macro's call site, returning tokens all
//! the same. rustc has already reported them in the file itself, so each would be said
//! twice; and the scan is only for the wording of an error. So a text is handed to the
//! lexer only when this conservative lexer, written after `rustc_lexer` and the checks
//! `rustc_parse` makes while lexing, finds nothing it cannot vouch for: anything unusual
//! (non-ASCII outside strings, comments and Latin identifiers, C strings, raw lifetimes,
//! a suffix on a string, bidirectional-text code points, deep nesting…) is refused, and
//! the scan then says nothing of that file, as for a file that does not parse.
//! (`crate = "path"` is checked with it too before its string is lexed.) Checked against
//! rustc 1.95: none of 66,000 texts it vouched for (the scan fuzzer's files, literals
//! and random character soups) made rustc's lexer say anything, in editions 2015 to 2024.
//!
//! It also refuses text nested deeper than [`MAX_DEPTH`]: `syn` parses, visits and drops
//! a syntax tree recursively, and a file rustc compiles (its parser grows its stack) could
//! overflow the macro's own stack.

/// The deepest nesting a scanned text may have, as [`Lexer::depth`] counts it: the
/// tokens written since the last `;` or `,` in each bracket around a point, summed. It
/// bounds how deep `syn`'s tree of the text can be (each level of it takes at least one
/// of those tokens: an operator, a `.`, a bracket, a `<`), and with it the stack the scan
/// needs. In a debug build (a proc macro's profile) `syn` took at most about 27 KiB a
/// token (`<<<T as A>::B as A>::B …`; `&&&T`, `[[[T]]]` and `{ { { } } }` 18 to 24 KiB;
/// measured for 40 shapes), so 4,000 need about 110 MiB of the macro's 256 MiB stack (see
/// `lib.rs`). This workspace's deepest file counts 417.
pub(crate) const MAX_DEPTH: usize = 4_000;

/// Whether rustc's lexer takes `text` without reporting anything, as far as this module
/// can tell: `false` for anything it cannot vouch for (see the module doc).
pub(crate) fn lexes_cleanly(text: &str) -> bool {
    // rustc drops a byte order mark and reads `\r\n` as `\n`; a `\r` alone is an error
    // in a literal or a doc comment ("bare CR not allowed"), refused anywhere.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n");
        if normalized.contains('\r') {
            return false;
        }
        normalized.as_str()
    } else {
        text
    };
    // Code points that change the direction of text are denied lints anywhere (in a
    // comment or a literal); other control characters are unknown tokens (and odd in a
    // string: refused too).
    let refused = |c: char| {
        matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            || (c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}'))
    };
    if text.chars().any(refused) {
        return false;
    }
    // A shebang line or a front matter (`---`): rustc's handling of them depends on where
    // the text comes from; refused rather than guessed.
    if text.starts_with("#!") && !text[2..].trim_start().starts_with('[') {
        return false;
    }
    if text.trim_start().starts_with("---") {
        return false;
    }
    let mut lexer = Lexer {
        rest: text.as_bytes(),
        text,
        open: Vec::new(),
        run: 0,
        outer: 0,
    };
    lexer.tokens().is_some()
}

/// A byte-level lexer of ASCII source (non-ASCII is taken only inside comments and
/// literals, where it is read as whole UTF-8 sequences by skipping continuation bytes).
struct Lexer<'a> {
    /// What is left to lex.
    rest: &'a [u8],
    /// The whole text, for slicing.
    text: &'a str,
    /// The brackets open around this point, and each one's run before it opened.
    open: Vec<(u8, usize)>,
    /// Tokens since the last `;` or `,` at this level.
    run: usize,
    /// The runs of the brackets around this point, summed.
    outer: usize,
}

/// One token's first byte may be any of these punctuation marks.
fn is_punct(b: u8) -> bool {
    b";,.(){}[]@#~?:$=!<>-&|+*/^%".contains(&b)
}

fn is_id_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_id_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The non-ASCII characters taken in identifiers (`größe`, `café`): the letters of
/// Latin-1 and Latin Extended-A that rustc's `uncommon_codepoints` lint allows (none with
/// a compatibility decomposition, none obsolete). Any other is refused rather than
/// checked against rustc's rules (emoji are errors, some scripts are linted).
fn is_id_letter(c: char) -> bool {
    matches!(c as u32, 0xc0..=0x17e)
        && !matches!(
            c as u32,
            0xd7 | 0xf7 | 0x132 | 0x133 | 0x138 | 0x13f | 0x140 | 0x149
        )
}

/// The kind of quoted literal, for its escapes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoted {
    /// `'c'` and `"s"`: escapes up to `\x7f`, `\u{…}`; any character.
    Text,
    /// `b'c'` and `b"s"`: escapes up to `\xff`, no `\u`; ASCII only.
    Bytes,
}

impl Lexer<'_> {
    fn peek(&self, at: usize) -> Option<u8> {
        self.rest.get(at).copied()
    }

    fn bump(&mut self, n: usize) {
        self.rest = &self.rest[n.min(self.rest.len())..];
    }

    /// How deep the tree of the text can be at this point (see [`MAX_DEPTH`]).
    fn depth(&self) -> usize {
        self.outer + self.run
    }

    /// Counts one token; `None` when the text is nested too deep.
    fn token(&mut self) -> Option<()> {
        self.run += 1;

        (self.depth() <= MAX_DEPTH).then_some(())
    }

    /// Lexes the whole text; `None` at anything refused.
    fn tokens(&mut self) -> Option<()> {
        while let Some(b) = self.peek(0) {
            match b {
                b' ' | b'\t' | b'\n' | 0x0b | 0x0c => self.bump(1),
                b'/' if self.peek(1) == Some(b'/') => self.line_comment(),
                b'/' if self.peek(1) == Some(b'*') => self.block_comment()?,
                b'(' | b'[' | b'{' => {
                    self.token()?;
                    self.open.push((b, self.run));
                    self.outer += self.run;
                    self.run = 0;
                    self.bump(1);
                }
                b')' | b']' | b'}' => {
                    let (open, run) = self.open.pop()?;
                    let expected = match open {
                        b'(' => b')',
                        b'[' => b']',
                        _ => b'}',
                    };
                    if b != expected {
                        return None;
                    }
                    self.outer -= run;
                    self.run = run;
                    self.bump(1);
                }
                b';' | b',' => {
                    self.run = 0;
                    self.bump(1);
                }
                // Reserved in the 2024 edition (guarded strings, `##`), linted before.
                b'#' if matches!(self.peek(1), Some(b'#' | b'"')) => return None,
                b'r' if self.peek(1) == Some(b'#') && self.peek(2).is_some_and(is_id_start) => {
                    self.token()?;
                    self.bump(2);
                    let name = self.identifier();
                    // rustc: "`…` cannot be a raw identifier".
                    if matches!(name, "_" | "crate" | "self" | "super" | "Self") {
                        return None;
                    }
                    self.no_prefix()?;
                }
                b'r' if matches!(self.peek(1), Some(b'#' | b'"')) => {
                    self.token()?;
                    self.bump(1);
                    self.raw_string(Quoted::Text)?;
                }
                b'b' if self.peek(1) == Some(b'\'') => {
                    self.token()?;
                    self.bump(2);
                    self.char_literal(Quoted::Bytes)?;
                }
                b'b' if self.peek(1) == Some(b'"') => {
                    self.token()?;
                    self.bump(2);
                    self.string(Quoted::Bytes)?;
                }
                b'b' if self.peek(1) == Some(b'r') && matches!(self.peek(2), Some(b'#' | b'"')) => {
                    self.token()?;
                    self.bump(2);
                    self.raw_string(Quoted::Bytes)?;
                }
                // C strings: their own rules (no NUL) and editions; refused.
                b'c' if self.peek(1) == Some(b'"') => return None,
                b'c' if self.peek(1) == Some(b'r') && matches!(self.peek(2), Some(b'#' | b'"')) => {
                    return None
                }
                b if is_id_start(b)
                    || (!b.is_ascii() && self.non_ascii().is_some_and(is_id_letter)) =>
                {
                    self.token()?;
                    self.identifier();
                    self.no_prefix()?;
                }
                b'0'..=b'9' => {
                    self.token()?;
                    self.number()?;
                }
                b'\'' => {
                    self.token()?;
                    self.bump(1);
                    self.lifetime_or_char()?;
                }
                b'"' => {
                    self.token()?;
                    self.bump(1);
                    self.string(Quoted::Text)?;
                }
                b if is_punct(b) => {
                    self.token()?;
                    self.bump(1);
                }
                // Other non-ASCII outside literals and comments (identifiers in other
                // scripts, confusable punctuation, odd whitespace), `` ` ``, `\`: refused.
                _ => return None,
            }
        }
        self.open.is_empty().then_some(())
    }

    /// The non-ASCII character here, if any.
    fn non_ascii(&self) -> Option<char> {
        let c = self.text[self.text.len() - self.rest.len()..]
            .chars()
            .next()?;
        (!c.is_ascii()).then_some(c)
    }

    /// The identifier starting here (ASCII, and [`is_id_letter`]s).
    fn identifier(&mut self) -> &str {
        let start = self.text.len() - self.rest.len();
        loop {
            match self.peek(0) {
                Some(b) if is_id_continue(b) => self.bump(1),
                Some(b) if !b.is_ascii() && self.non_ascii().is_some_and(is_id_letter) => {
                    self.bump(utf8_len(b));
                }
                _ => break,
            }
        }
        &self.text[start..self.text.len() - self.rest.len()]
    }

    /// After an identifier or a literal: nothing glued to it that rustc reads as a
    /// prefix or a suffix (`foo"…"`, `foo#`, `"…"suffix`, or non-ASCII that continues it).
    fn no_prefix(&self) -> Option<()> {
        match self.peek(0) {
            Some(b'#' | b'"' | b'\'') => None,
            Some(b) if !b.is_ascii() => None,
            _ => Some(()),
        }
    }

    /// A literal's end: no suffix (rustc takes one on any literal and rejects it on
    /// strings and characters).
    fn no_suffix(&self) -> Option<()> {
        match self.peek(0) {
            Some(b) if is_id_start(b) || !b.is_ascii() => None,
            _ => self.no_prefix(),
        }
    }

    fn line_comment(&mut self) {
        let len = self.rest.iter().take_while(|b| **b != b'\n').count();
        self.bump(len);
    }

    /// `/* … */`, nested.
    fn block_comment(&mut self) -> Option<()> {
        self.bump(2);
        let mut depth = 1usize;
        while depth > 0 {
            match (self.peek(0)?, self.peek(1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    self.bump(2);
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    self.bump(2);
                }
                _ => self.bump(1),
            }
        }
        Some(())
    }

    /// An integer or float literal, as `rustc_lexer` reads one, refused where
    /// `rustc_parse` reports it: no digits (`0x`), an empty exponent (`1e`), a float in
    /// another base (`0b1e5`, `0x1.5`), a digit too large for its base (`0b2`).
    fn number(&mut self) -> Option<()> {
        let digits = |this: &mut Self, hex: bool| {
            let len = this
                .rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'_' || (hex && b.is_ascii_hexdigit()))
                .count();
            let any = this.rest[..len].iter().any(|b| *b != b'_');
            let start = this.text.len() - this.rest.len();
            this.bump(len);
            (any, &this.text[start..start + len])
        };
        let mut base = 10;
        let first = self.peek(0)?;
        self.bump(1);
        if first == b'0' {
            match self.peek(0) {
                Some(b'b' | b'o') => {
                    base = if self.peek(0) == Some(b'b') { 2 } else { 8 };
                    self.bump(1);
                    let (any, written) = digits(self, false);
                    // "no valid digits found for number"; "invalid digit for a base N
                    // literal".
                    if !any
                        || written
                            .bytes()
                            .any(|d| d != b'_' && u32::from(d - b'0') >= base)
                    {
                        return None;
                    }
                }
                Some(b'x') => {
                    base = 16;
                    self.bump(1);
                    if !digits(self, true).0 {
                        return None;
                    }
                }
                Some(b'0'..=b'9' | b'_') => {
                    digits(self, false);
                }
                _ => {}
            }
        } else {
            digits(self, false);
        }
        let float = match (self.peek(0), self.peek(1)) {
            (Some(b'.'), second) if second != Some(b'.') && !second.is_some_and(is_id_start) => {
                // Non-ASCII after the `.` may start an identifier (rustc: then no float);
                // not guessed.
                if second.is_some_and(|b| !b.is_ascii()) {
                    return None;
                }
                self.bump(1);
                if self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
                    digits(self, false);
                    if matches!(self.peek(0), Some(b'e' | b'E')) {
                        self.exponent()?;
                    }
                }
                true
            }
            (Some(b'e' | b'E'), _) => {
                self.exponent()?;
                true
            }
            _ => false,
        };
        // "binary float literal is not supported", and octal, hexadecimal.
        if float && base != 10 {
            return None;
        }
        // A suffix (`u8`, `f64`, or one rustc rejects later, when it parses the literal:
        // not the lexer's error).
        if self.peek(0).is_some_and(is_id_start) {
            self.identifier();
        }
        self.no_prefix()
    }

    /// `e`, a sign, digits: "expected at least one digit in exponent" without any.
    fn exponent(&mut self) -> Option<()> {
        self.bump(1);
        if matches!(self.peek(0), Some(b'+' | b'-')) {
            self.bump(1);
        }
        let len = self
            .rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'_')
            .count();
        let any = self.rest[..len].iter().any(|b| *b != b'_');
        self.bump(len);
        any.then_some(())
    }

    /// After a `'`: a lifetime (`'a`, `'static`) or a character literal, as
    /// `rustc_lexer` tells them apart.
    fn lifetime_or_char(&mut self) -> Option<()> {
        let (first, second) = (self.peek(0)?, self.peek(1));
        if first == b'\\' {
            return self.char_literal(Quoted::Text);
        }
        if first.is_ascii() && second == Some(b'\'') {
            return self.char_literal(Quoted::Text);
        }
        if !first.is_ascii() {
            // One non-ASCII character, then `'`: a character literal; anything else (a
            // non-ASCII lifetime) is refused.
            let len = utf8_len(first);
            if self.peek(len) == Some(b'\'') {
                return self.char_literal(Quoted::Text);
            }
            return None;
        }
        if !is_id_start(first) {
            // rustc: an unterminated or too long character literal, or `'0` ("lifetimes
            // cannot start with a number").
            return None;
        }
        // A raw lifetime (`'r#a`): edition-dependent, refused.
        if first == b'r' && second == Some(b'#') {
            return None;
        }
        self.identifier();
        // `'ab'`: "character literal may only contain one codepoint"; `'a#`: a prefix.
        self.no_prefix()
    }

    /// The rest of a character literal after its `'` (or `b'`): one character or
    /// escape, then `'`, then no suffix.
    fn char_literal(&mut self, kind: Quoted) -> Option<()> {
        match self.peek(0)? {
            // "empty character literal"; "character constant must be escaped".
            b'\'' | b'\n' | b'\t' => return None,
            b'\\' => {
                self.bump(1);
                self.escape(kind, false)?;
            }
            b if b.is_ascii() => self.bump(1),
            // "non-ASCII character in byte literal".
            _ if kind == Quoted::Bytes => return None,
            b => self.bump(utf8_len(b)),
        }
        if self.peek(0)? != b'\'' {
            return None;
        }
        self.bump(1);
        self.no_suffix()
    }

    /// The rest of a string after its `"` (or `b"`): characters and escapes, `"`, no
    /// suffix.
    fn string(&mut self, kind: Quoted) -> Option<()> {
        loop {
            match self.peek(0)? {
                b'"' => {
                    self.bump(1);
                    return self.no_suffix();
                }
                b'\\' => {
                    self.bump(1);
                    self.escape(kind, true)?;
                }
                b if b.is_ascii() => self.bump(1),
                // "non-ASCII character in byte string literal".
                _ if kind == Quoted::Bytes => return None,
                b => self.bump(utf8_len(b)),
            }
        }
    }

    /// A raw string after its `r` (or `br`): up to 255 `#`, `"`, anything up to `"` and
    /// as many `#`, no suffix.
    fn raw_string(&mut self, kind: Quoted) -> Option<()> {
        let hashes = self.rest.iter().take_while(|b| **b == b'#').count();
        // "too many `#` symbols"; "found invalid character; only `#` is allowed".
        if hashes > 255 || self.peek(hashes) != Some(b'"') {
            return None;
        }
        self.bump(hashes + 1);
        loop {
            match self.peek(0)? {
                b'"' if self.rest.len() > hashes
                    && self.rest[1..=hashes].iter().all(|b| *b == b'#') =>
                {
                    self.bump(1 + hashes);
                    return self.no_suffix();
                }
                b if b.is_ascii() => self.bump(1),
                _ if kind == Quoted::Bytes => return None,
                b => self.bump(utf8_len(b)),
            }
        }
    }

    /// An escape after its `\`, in a string (`in_string`: a line continuation too) or a
    /// character literal, as rustc's unescaping takes it; anything else refused.
    fn escape(&mut self, kind: Quoted, in_string: bool) -> Option<()> {
        match self.peek(0)? {
            b'n' | b'r' | b't' | b'\\' | b'0' | b'\'' | b'"' => self.bump(1),
            b'x' => {
                let (high, low) = (self.peek(1)?, self.peek(2)?);
                let ok = high.is_ascii_hexdigit()
                    && low.is_ascii_hexdigit()
                    // "out of range hex escape": above `\x7f` only in bytes.
                    && (kind == Quoted::Bytes || high <= b'7');
                if !ok {
                    return None;
                }
                self.bump(3);
            }
            b'u' if kind == Quoted::Text => {
                if self.peek(1)? != b'{' || !self.peek(2)?.is_ascii_hexdigit() {
                    return None;
                }
                self.bump(2);
                let len = self
                    .rest
                    .iter()
                    .take_while(|b| b.is_ascii_hexdigit() || **b == b'_')
                    .count();
                let digits: String = self.text[self.text.len() - self.rest.len()..][..len]
                    .chars()
                    .filter(|c| *c != '_')
                    .collect();
                self.bump(len);
                if self.peek(0)? != b'}' || digits.len() > 6 {
                    return None;
                }
                self.bump(1);
                // "invalid unicode character escape": a surrogate, or above `10FFFF`.
                char::from_u32(u32::from_str_radix(&digits, 16).ok()?)?;
            }
            b'\n' if in_string => {
                // A line continuation skips the whitespace after it; rustc warns when it
                // skips more than one line, or stops at whitespace it does not skip.
                self.bump(1);
                let skipped = self
                    .rest
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t' | b'\n'))
                    .count();
                if self.rest[..skipped].contains(&b'\n') {
                    return None;
                }
                self.bump(skipped);
                if matches!(self.peek(0), Some(b) if !b.is_ascii() || b == 0x0b || b == 0x0c) {
                    return None;
                }
            }
            _ => return None,
        }
        Some(())
    }
}

/// The length of the UTF-8 sequence whose first byte is `first` (the text is a `str`).
fn utf8_len(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_rust_lexes_cleanly() {
        for text in [
            "",
            "fn main() { let x = 1 + 2; }",
            "/// Doc, café.\n//! Inner.\n/* a /* nested */ comment */ fn f<'a>(x: &'a str) -> &'a str { x }",
            "const S: &str = \"caf\\u{e9} \\x41\\n\\t\\\\ \\\" \\' \\0 é\";",
            "let c = ['a', '\\n', '\\'', '\\u{1F600}', 'é', b'a', b'\\xff', b'\\''];",
            "let r = (r\"raw\", r#\"a \"quoted\" one\"#, br##\"x\"#\"##, b\"bytes\\x00\");",
            "let n = (1, 1_000u64, 0xffu8, 0o17, 0b1010, 1e10, 2.5f32, 1.0e-3, 0., 1..2, x.0.1);",
            "let s = \"continued \\\n    here\";",
            "#![allow(unused)]\n#[derive(Debug)] struct A<'a> { r#type: &'a u8, r: u8 } impl A<'_> {}",
            "macro_rules! m { ($($x:tt)*) => { $($x)* }; } m!(@ ~ ? ^ % |x| x);",
            "\u{feff}fn f() {}\r\n",
            "fn f() -> 'static {} let _ = 1.max(2); let _ = 1.e3;",
            "fn größe(café: u8) -> u8 { café }",
        ] {
            assert!(lexes_cleanly(text), "{text}");
        }
    }

    /// Each is something rustc's lexer reports (or may, by edition), in a file it has
    /// already reported it in: the scan must not hand it to the lexer again.
    #[test]
    fn what_rustc_reports_while_lexing_is_refused() {
        for text in [
            "for i in 0b0e5..4 {}",
            "let x = 0o7.5;",
            "let x = 0x1.5;",
            "let x = 0x;",
            "let x = 0b;",
            "let x = 0b12;",
            "let x = 0o8;",
            "let x = 1e;",
            "let x = 1.5e+;",
            "let x = 1ex;",
            "let s = \"\\q\";",
            "let s = \"\\x80\";",
            "let s = \"\\u{d800}\";",
            "let s = \"\\u{110000}\";",
            "let s = \"\\u{1234567}\";",
            "let s = \"\\u{_1}\";",
            "let s = \"\\u1234\";",
            "let s = b\"\\u{41}\";",
            "let s = b\"é\";",
            "let s = br\"é\";",
            "let c = b'é';",
            "let c = '';",
            "let c = 'ab';",
            "let c = '\n';",
            "let c = '\t';",
            "let c = ''';",
            "let s = \"a\"suffix;",
            "let s = 'a'suffix;",
            "let s = foo\"bar\";",
            "let s = foo#bar;",
            "let s = k#bar;",
            "let s = #\"guarded\"#;",
            "let s = ## ;",
            "let s = c\"c string\";",
            "let s = cr\"c string\";",
            "let s = r#_;",
            "let s = r#crate;",
            "fn f<'r#a>() {}",
            "fn f<'1a>() {}",
            "let s = \"cr\ronly\";",
            "/// cr\ronly\nfn f() {}",
            "let s = \"bidi \u{202e} text\";",
            "// bidi \u{2067} in a comment\n",
            "let s = \"a \\\n\n  skipped two lines\";",
            "let s = \"a \\\n\u{a0}unskipped\";",
            "let 変数 = 1;",
            "let ǉ = 1;",
            "let x = 1 × 2;",
            "let e\u{301} = 1;",
            "let x = a `b`;",
            "let x = \\;",
            "let x = \u{ff1b};",
            "let x = r###########################################################################################################################################################################################################################################################################\"x\";",
            "let x = r#1;",
            "let x = r# x;",
            "let x = r#\"unterminated\";",
            "/* unterminated",
            "fn f() { (] }",
            "fn f() {",
            "#!/bin/sh\nfn main() {}",
            "---\n[package]\n---\nfn main() {}",
            "let nul = \"\u{0}\";",
        ] {
            assert!(!lexes_cleanly(text), "{text:?}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_bound_is_refused() {
        let nested = |n: usize| format!("fn f() {{ {}x{} }}", "(".repeat(n), ")".repeat(n));
        assert!(lexes_cleanly(&nested(1_000)));
        assert!(!lexes_cleanly(&nested(MAX_DEPTH)));
        // Without brackets: a chain of unary operators, or of terms, is as deep.
        let unary = |n: usize| format!("fn f() {{ {}x }}", "!".repeat(n));
        assert!(lexes_cleanly(&unary(1_000)));
        assert!(!lexes_cleanly(&unary(MAX_DEPTH)));
        // Statements and arguments do not add up.
        let statements = format!("fn f() {{ {} }}", "g(x); ".repeat(MAX_DEPTH));
        assert!(lexes_cleanly(&statements));
    }
}

/// The scan reads the files that invoke the macros: this workspace's own all lex cleanly
/// (so their errors keep the scan's wording), but the ui cases whose mistake is a
/// literal rustc's lexer rejects, or that this module cannot vouch for.
#[cfg(test)]
mod workspace {
    use super::*;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_files_that_invoke_the_macros_lex_cleanly() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace");
        let mut files = Vec::new();
        for dir in ["src", "examples", "tests", "benches"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 100, "{} files", files.len());
        let mut refused: Vec<String> = files
            .iter()
            .filter(|f| !lexes_cleanly(&std::fs::read_to_string(f).expect("a source file")))
            .map(|f| f.strip_prefix(root).expect("inside").display().to_string())
            .collect();
        refused.sort();
        assert_eq!(
            refused,
            [
                "tests/ui/fail/crate_path_string_with_suffix.rs",
                "tests/ui/fail/for_over_range_with_invalid_integer_suffix.rs",
                "tests/ui/fail/retries_with_invalid_integer_suffix.rs",
            ]
        );
    }
}
