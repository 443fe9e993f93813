//! The lexer: rule text to tokens, each with its span.
//!
//! Tokens are deliberately coarse. A `Dashed` token is a hyphen and letters (`-eq`, `-and`,
//! `-plus`); a `Word` is any other run of unquoted text (`user.department`, `2020-06-10T18:13:20Z`,
//! `system.now`, `null`, a bare `and`). The parser decides what a word means where it stands, and
//! the checker what a value means for its property.
//!
//! Strings: in double quotes a backtick escapes `"` and `` ` `` (``"Sales`"s"``); in single quotes
//! `''` is a quote. Mistakes people make often are reported with a fix but lexed as meant, so the
//! rest of the rule is still checked: `==` and `&&` become `-eq` and `-and`, “curly quotes”
//! still delimit a string, and `\"` inside a string (one not followed by a space, `)`, `]`, `,`
//! or the end, which would end the string) is read as an escaped quote. A backslash before the
//! closing quote is the backslash itself: `"DOMAIN\"` is `DOMAIN\`.

use super::error::{Report, RuleError, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// A hyphen and a word, lowercased, without the hyphen: `-startsWith` is `startswith`.
    Dashed(String),
    /// Unquoted text, as written.
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Splits the rule text into tokens, reporting what can't be read.
pub(crate) fn lex(source: &str, report: &mut Report<'_>) -> Vec<Token> {
    Lexer { source, chars: source.char_indices().collect(), at: 0, tokens: Vec::new(), report }.run()
}

/// Characters that end an unquoted word.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || "()[],\"'`=!<>&|\u{201C}\u{201D}\u{201E}\u{2018}\u{2019}".contains(c)
}

/// Characters that may follow a closing quote; a `\"` followed by anything else was meant as an
/// escaped quote.
fn ends_string(c: char) -> bool {
    c.is_whitespace() || ")],".contains(c)
}

fn is_symbol(c: char) -> bool {
    "=!<>&|".contains(c)
}

struct Lexer<'s, 'r, 'a> {
    source: &'s str,
    chars: Vec<(usize, char)>,
    /// Index into `chars`.
    at: usize,
    tokens: Vec<Token>,
    report: &'r mut Report<'a>,
}

impl Lexer<'_, '_, '_> {
    fn run(mut self) -> Vec<Token> {
        while let Some(c) = self.peek(0) {
            let start = self.offset(self.at);
            match c {
                c if c.is_whitespace() => self.at += 1,
                '(' => self.single(TokenKind::LParen),
                ')' => self.single(TokenKind::RParen),
                '[' => self.single(TokenKind::LBracket),
                ']' => self.single(TokenKind::RBracket),
                ',' => self.single(TokenKind::Comma),
                '"' => self.double_quoted(),
                '\'' => self.single_quoted(),
                '\u{201C}' | '\u{201D}' | '\u{201E}' => self.curly_quoted(&['"', '\u{201C}', '\u{201D}']),
                '\u{2018}' | '\u{2019}' => self.curly_quoted(&['\'', '\u{2018}', '\u{2019}']),
                '-' if self.peek(1).is_some_and(char::is_alphabetic) => {
                    self.at += 1;
                    let text = self.take_while(|c| c.is_alphanumeric() || c == '_');
                    self.push(TokenKind::Dashed(text.to_lowercase()), start);
                }
                '-' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.word(),
                c if is_symbol(c) => self.symbol(),
                c if !is_delimiter(c) && c != '-' => self.word(),
                other => {
                    self.at += 1;
                    self.report
                        .error(Span::new(start, self.offset(self.at)), RuleError::UnexpectedCharacter(other));
                }
            }
        }
        self.tokens
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).map(|(_, c)| *c)
    }

    /// The byte offset of the character at `index`, or the end of the text.
    fn offset(&self, index: usize) -> usize {
        self.chars.get(index).map_or(self.source.len(), |(offset, _)| *offset)
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        let span = Span::new(start, self.offset(self.at));
        self.tokens.push(Token { kind, span });
    }

    fn single(&mut self, kind: TokenKind) {
        let start = self.offset(self.at);
        self.at += 1;
        self.push(kind, start);
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek(0).filter(|c| keep(*c)) {
            text.push(c);
            self.at += 1;
        }
        text
    }

    fn word(&mut self) {
        let start = self.offset(self.at);
        let mut text = String::from(self.peek(0).unwrap_or('-'));
        self.at += 1;
        text.push_str(&self.take_while(|c| !is_delimiter(c)));
        self.push(TokenKind::Word(text), start);
    }

    /// `==`, `!=`, `&&` and friends: reported, then read as the operator they stand for.
    fn symbol(&mut self) {
        let start = self.offset(self.at);
        let text = self.take_while(is_symbol);
        let meant = match text.as_str() {
            "=" | "==" => Some("eq"),
            "!=" | "<>" => Some("ne"),
            "<=" | "<" => Some("le"),
            ">=" | ">" => Some("ge"),
            "&&" | "&" => Some("and"),
            "||" | "|" => Some("or"),
            "!" => Some("not"),
            _ => None,
        };
        let span = Span::new(start, self.offset(self.at));
        let diagnostic = self.report.error(span, RuleError::SymbolOperator(text));
        if let Some(meant) = meant {
            diagnostic.hint(format!("write `-{meant}`"));
            self.push(TokenKind::Dashed(meant.to_owned()), start);
        }
    }

    fn double_quoted(&mut self) {
        let start = self.offset(self.at);
        self.at += 1;
        let mut value = String::new();
        loop {
            match (self.peek(0), self.peek(1)) {
                (None, _) => return self.unterminated(start, value),
                (Some('`'), Some(escaped @ ('"' | '`'))) => {
                    value.push(escaped);
                    self.at += 2;
                }
                (Some('\\'), Some('"')) if !self.peek(2).is_none_or(ends_string) => {
                    let span = Span::new(self.offset(self.at), self.offset(self.at + 2));
                    self.report.error(span, RuleError::BackslashEscape).hint("write `` `\" ``");
                    value.push('"');
                    self.at += 2;
                }
                (Some('"'), _) => break,
                (Some(c), _) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        self.push(TokenKind::Str(value), start);
    }

    fn single_quoted(&mut self) {
        let start = self.offset(self.at);
        self.at += 1;
        let mut value = String::new();
        loop {
            match (self.peek(0), self.peek(1)) {
                (None, _) => return self.unterminated(start, value),
                (Some('\''), Some('\'')) => {
                    value.push('\'');
                    self.at += 2;
                }
                (Some('\''), _) => break,
                (Some(c), _) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        self.push(TokenKind::Str(value), start);
    }

    /// A string opened with a curly quote, as word processors write them: reported, then read.
    fn curly_quoted(&mut self, closers: &[char]) {
        let start = self.offset(self.at);
        self.at += 1;
        let value = self.take_while(|c| !closers.contains(&c));
        if self.peek(0).is_none() {
            return self.unterminated(start, value);
        }
        self.at += 1;
        let span = Span::new(start, self.offset(self.at));
        let straight = super::ast::quoted(&value);
        self.report.error(span, RuleError::CurlyQuotes).hint(format!("write straight quotes: `{straight}`"));
        self.push(TokenKind::Str(value), start);
    }

    fn unterminated(&mut self, start: usize, value: String) {
        let span = Span::new(start, self.source.len());
        self.report.error(span, RuleError::UnterminatedString).hint("close it with the quote that opened it");
        self.push(TokenKind::Str(value), start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokens as `kind:text` (text from the span), then the messages of any diagnostics.
    fn check(source: &str, expect: &str) {
        let mut report = Report::new(source);
        let tokens = lex(source, &mut report);
        let mut lines: Vec<String> = tokens
            .iter()
            .map(|t| {
                let text = source.get(t.span.start..t.span.end).unwrap_or("<bad span>");
                match &t.kind {
                    TokenKind::Dashed(w) => format!("dashed {w} {text}"),
                    TokenKind::Word(w) => format!("word {w}"),
                    TokenKind::Str(s) => format!("str {s} {text}"),
                    other => format!("{other:?}"),
                }
            })
            .collect();
        lines.extend(report.finish().iter().map(|d| format!("error {d}")));
        assert_eq!(lines.join("\n"), expect, "lexing {source}");
    }

    #[test]
    fn words_operators_and_punctuation() {
        check(
            "(user.department -EQ \"Sales\") or user.hire -ge 2020-06-10T18:13:20Z",
            "LParen\nword user.department\ndashed eq -EQ\nstr Sales \"Sales\"\nRParen\nword or\n\
             word user.hire\ndashed ge -ge\nword 2020-06-10T18:13:20Z",
        );
        check("['a', -5,x]", "LBracket\nstr a 'a'\nComma\nword -5\nComma\nword x\nRBracket");
    }

    #[test]
    fn escapes_in_strings() {
        check(r#""Sales`"" "a``b" "c`d""#, "str Sales\" \"Sales`\"\"\nstr a`b \"a``b\"\nstr c`d \"c`d\"");
        check("'O''Brien'", "str O'Brien 'O''Brien'");
        check(r#""""#, "str  \"\"");
    }

    #[test]
    fn unterminated_strings_are_reported() {
        check(r#"a -eq "x"#, "word a\ndashed eq -eq\nstr x \"x\nerror 1:7: unterminated string");
        check("'x''", "str x' 'x''\nerror 1:1: unterminated string");
    }

    #[test]
    fn a_backslash_before_a_quote_is_reported_and_read_as_an_escape() {
        check(
            r#""say \"hi\"" "C:\""#,
            "str say \"hi\" \"say \\\"hi\\\"\"\nstr C:\\ \"C:\\\"\n\
             error 1:6: a backslash doesn't escape a double quote\n\
             error 1:10: a backslash doesn't escape a double quote",
        );
    }

    #[test]
    fn symbols_are_reported_and_read_as_meant() {
        check(
            "a == \"b\" && !c",
            "word a\ndashed eq ==\nstr b \"b\"\ndashed and &&\ndashed not !\nword c\n\
             error 1:3: `==` is not an operator of the rule language\n\
             error 1:10: `&&` is not an operator of the rule language\n\
             error 1:13: `!` is not an operator of the rule language",
        );
    }

    #[test]
    fn curly_quotes_are_reported_and_read_as_strings() {
        check(
            "\u{201C}Sales\u{201D}",
            "str Sales \u{201C}Sales\u{201D}\nerror 1:1: curly quotes don't delimit strings",
        );
    }

    #[test]
    fn stray_characters_are_reported_and_skipped() {
        check(
            "a - `b",
            "word a\nword b\nerror 1:3: unexpected character `-`\nerror 1:5: unexpected character ```",
        );
    }
}
