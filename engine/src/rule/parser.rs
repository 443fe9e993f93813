//! The parser: tokens to the parse tree, by recursive descent over Entra's grammar.
//!
//! ```text
//! rule       := or
//! or         := and { -or and }
//! and        := not { -and not }
//! not        := -not not | primary
//! primary    := ( or ) | Direct Reports for "<id>" | name quantifier predicate | name op value
//! predicate  := ( or ) | name op value                 ; the parentheses may be omitted
//! value      := "string" | 'string' | word | [ value {, value} ] | system.now [(-plus|-minus) duration]
//! ```
//!
//! Keywords (operators, `-and`, `-not`, `-any`, `-plus`, ...) are matched without regard to case
//! and may be written without their hyphen, as Entra allows. A syntax error does not stop the
//! parse: the parser reports it, skips to the next `-and`, `-or` or `)`, and goes on, so every
//! error is reported at once. Nesting is bounded by [`super::MAX_DEPTH`], so hostile input can't
//! exhaust the stack here or in the stages after.

use super::MAX_DEPTH;
use super::ast::{Op, Quantifier, Sign};
use super::error::{Diagnostic, Report, RuleError, Span, nearest};
use super::lexer::{Token, TokenKind};
use super::syntax::{Expr, Name, Value};

/// Parses a whole rule, reporting every syntax error.
pub(crate) fn parse(source: &str, tokens: &[Token], report: &mut Report<'_>) -> Expr {
    Parser { source, tokens, at: 0, depth: 0, reported_too_deep: false, report }.rule()
}

struct Parser<'s, 't, 'r, 'a> {
    source: &'s str,
    tokens: &'t [Token],
    at: usize,
    depth: usize,
    reported_too_deep: bool,
    report: &'r mut Report<'a>,
}

impl<'t> Parser<'_, 't, '_, '_> {
    fn rule(&mut self) -> Expr {
        let mut items = vec![self.or()];
        let mut junk = false;
        while let Some(token) = self.peek() {
            if token.kind == TokenKind::RParen {
                self.report
                    .error(token.span, RuleError::UnmatchedParenthesis)
                    .hint("remove it, or open it with `(` earlier");
                self.bump();
            } else if self.starts_condition() {
                self.expected("`-and` or `-or`");
                items.push(self.or());
            } else {
                if !junk {
                    self.expected("`-and` or `-or`");
                }
                junk = true;
                self.bump();
                continue;
            }
            junk = false;
        }
        if items.len() == 1 { items.remove(0) } else { Expr::And(items) }
    }

    fn or(&mut self) -> Expr {
        let mut items = vec![self.and()];
        while self.at_keyword("or") {
            self.bump();
            items.push(self.and());
        }
        if items.len() == 1 { items.remove(0) } else { Expr::Or(items) }
    }

    fn and(&mut self) -> Expr {
        let mut items = vec![self.not()];
        while self.at_keyword("and") {
            self.bump();
            items.push(self.not());
        }
        if items.len() == 1 { items.remove(0) } else { Expr::And(items) }
    }

    fn not(&mut self) -> Expr {
        if !self.at_keyword("not") {
            return self.primary();
        }
        let keyword = self.here();
        if !self.enter(keyword) {
            return Expr::Error(self.recover());
        }
        self.bump();
        let operand = self.not();
        self.depth -= 1;
        Expr::Not { keyword, operand: Box::new(operand) }
    }

    fn primary(&mut self) -> Expr {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::LParen) => self.parenthesized(),
            Some(TokenKind::Word(word))
                if word.eq_ignore_ascii_case("direct")
                    && matches!(self.peek_at(1).map(|t| &t.kind), Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case("reports")) =>
            {
                self.direct_reports()
            }
            Some(TokenKind::Word(_)) if !self.at_connective() => self.condition(),
            _ => {
                self.expected("a condition such as `user.department -eq \"Sales\"`");
                Expr::Error(self.recover())
            }
        }
    }

    fn parenthesized(&mut self) -> Expr {
        let open = self.here();
        if !self.enter(open) {
            return Expr::Error(self.skip_past(TokenKind::LParen, TokenKind::RParen, 0));
        }
        self.bump();
        let inner = self.or();
        self.depth -= 1;
        let close = match self.peek() {
            Some(token) if token.kind == TokenKind::RParen => {
                self.bump();
                token.span
            }
            None => {
                self.report.error(open, RuleError::UnclosedParenthesis).hint("close it with `)`");
                inner.span()
            }
            Some(_) => {
                self.expected("`-and`, `-or` or `)`");
                self.skip_past(TokenKind::LParen, TokenKind::RParen, 1)
            }
        };
        Expr::Paren { span: open.to(close), inner: Box::new(inner) }
    }

    fn direct_reports(&mut self) -> Expr {
        let start = self.here();
        self.bump();
        self.bump();
        if !self.at_keyword("for") {
            self.expected("`for` in `Direct Reports for \"<manager id>\"`");
            return Expr::Error(start.to(self.recover()));
        }
        self.bump();
        match self.peek() {
            Some(Token { kind: TokenKind::Str(manager), span }) => {
                self.bump();
                Expr::DirectReports { span: start.to(*span), manager: manager.clone() }
            }
            _ => {
                self.expected("the manager's id in quotes");
                Expr::Error(start.to(self.recover()))
            }
        }
    }

    /// `name op value` or `name -any predicate`.
    fn condition(&mut self) -> Expr {
        let Some(Token { kind: TokenKind::Word(text), span }) = self.bump() else {
            return Expr::Error(self.here());
        };
        let subject = Name { text: text.clone(), span: *span };
        let (keyword, keyword_span, dashed) = match self.peek() {
            Some(Token { kind: TokenKind::Dashed(w), span }) => (w.as_str(), *span, true),
            Some(Token { kind: TokenKind::Word(w), span }) if !self.at_connective() => {
                (w.as_str(), *span, false)
            }
            _ => {
                self.expected("an operator such as `-eq`");
                return Expr::Error(subject.span.to(self.recover()));
            }
        };
        if let Some(quantifier) = Quantifier::from_keyword(keyword) {
            self.bump();
            return self.quantified(subject, quantifier, keyword_span);
        }
        if let Some(op) = Op::from_keyword(keyword) {
            self.bump();
            let Some(value) = self.value() else {
                return Expr::Error(subject.span.to(self.recover()));
            };
            return Expr::Compare { subject, op, op_span: keyword_span, value };
        }
        let written = self.text(keyword_span).to_owned();
        if keyword.eq_ignore_ascii_case("not") {
            self.report.error(keyword_span, RuleError::NotAsComparator).hint(
                "test for a missing value with `-eq null`, for a present one with `-ne null`; \
                 negate a comparison with `-not (...)`",
            );
        } else if dashed {
            let diagnostic = self.report.error(keyword_span, RuleError::UnknownOperator(written));
            if let Some(hint) = operator_hint(keyword) {
                diagnostic.hint(hint);
            }
        } else {
            let diagnostic = self.expected("an operator such as `-eq`");
            if let Some(hint) = operator_hint(keyword) {
                diagnostic.hint(hint);
            }
        }
        self.bump();
        self.skip_value();
        Expr::Error(subject.span.to(self.previous_end()))
    }

    fn quantified(&mut self, subject: Name, quantifier: Quantifier, quantifier_span: Span) -> Expr {
        if !self.enter(quantifier_span) {
            return Expr::Error(subject.span.to(self.recover()));
        }
        let predicate = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::LParen) => self.parenthesized(),
            Some(TokenKind::Word(_)) if !self.at_connective() => self.condition(),
            _ => {
                self.expected("a condition in parentheses such as `(_ -startsWith \"smtp:\")`");
                Expr::Error(self.recover())
            }
        };
        self.depth -= 1;
        Expr::Quantified { subject, quantifier, quantifier_span, predicate: Box::new(predicate) }
    }

    fn value(&mut self) -> Option<Value> {
        let token = self.peek();
        match token.map(|t| &t.kind) {
            Some(TokenKind::Str(text)) => {
                let span = self.here();
                self.bump();
                Some(Value::Quoted { text: text.clone(), span })
            }
            Some(TokenKind::LBracket) => Some(self.list()),
            Some(TokenKind::Word(word)) if word.eq_ignore_ascii_case("system.now") => Some(self.now()),
            Some(TokenKind::Word(word)) if !self.at_connective() => {
                let span = self.here();
                self.bump();
                Some(Value::Bare { text: word.clone(), span })
            }
            _ => {
                self.expected("a value");
                None
            }
        }
    }

    fn list(&mut self) -> Value {
        let open = self.here();
        self.bump();
        let mut items = Vec::new();
        let mut want_item = true;
        loop {
            let Some(token) = self.peek() else {
                self.report.error(open, RuleError::UnclosedBracket).hint("close it with `]`");
                break;
            };
            match (&token.kind, want_item) {
                (TokenKind::RBracket, _) if !want_item || items.is_empty() => {
                    self.bump();
                    break;
                }
                (TokenKind::Str(text), true) => {
                    items.push(Value::Quoted { text: text.clone(), span: token.span });
                    want_item = false;
                }
                (TokenKind::Word(text), true) => {
                    items.push(Value::Bare { text: text.clone(), span: token.span });
                    want_item = false;
                }
                (TokenKind::Comma, false) => want_item = true,
                (_, true) => {
                    self.expected("a value");
                    self.skip_past(TokenKind::LBracket, TokenKind::RBracket, 1);
                    break;
                }
                (_, false) => {
                    self.expected("`,` or `]`");
                    self.skip_past(TokenKind::LBracket, TokenKind::RBracket, 1);
                    break;
                }
            }
            self.bump();
        }
        Value::List { items, span: open.to(self.previous_end()) }
    }

    /// `system.now`, optionally `-plus` or `-minus` a duration.
    fn now(&mut self) -> Value {
        let start = self.here();
        self.bump();
        let sign = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Dashed(w) | TokenKind::Word(w)) => Sign::from_keyword(w),
            _ => None,
        };
        let Some(sign) = sign else {
            return Value::Now { span: start, offset: None };
        };
        self.bump();
        match self.peek() {
            Some(Token { kind: TokenKind::Word(text), span }) => {
                self.bump();
                let duration = Name { text: text.clone(), span: *span };
                Value::Now { span: start.to(*span), offset: Some((sign, duration)) }
            }
            _ => {
                self.expected("an ISO 8601 duration such as `P1D`");
                Value::Now { span: start, offset: None }
            }
        }
    }

    // Recovery.

    /// Skips to the next `-and`, `-or` or unmatched `)` outside brackets; the span skipped, or
    /// the empty span here when nothing was.
    fn recover(&mut self) -> Span {
        let (start, first) = (self.here(), self.at);
        let mut nesting = 0usize;
        while let Some(token) = self.peek() {
            match token.kind {
                TokenKind::LParen | TokenKind::LBracket => nesting += 1,
                TokenKind::RParen | TokenKind::RBracket if nesting > 0 => nesting -= 1,
                TokenKind::RParen => break,
                _ if nesting == 0 && self.at_connective() => break,
                _ => {}
            }
            self.bump();
        }
        if self.at == first { Span::new(start.start, start.start) } else { start.to(self.previous_end()) }
    }

    /// Skips past the `close` that matches an `open`, or to the end; `open` already taken that
    /// many times.
    fn skip_past(&mut self, open: TokenKind, close: TokenKind, already_open: usize) -> Span {
        let start = self.here();
        let mut nesting = already_open;
        while let Some(token) = self.bump() {
            if token.kind == open {
                nesting += 1;
            } else if token.kind == close {
                nesting = nesting.saturating_sub(1);
                if nesting == 0 {
                    break;
                }
            }
        }
        start.to(self.previous_end())
    }

    /// Skips the value after an operator that was not understood, so it causes no second error.
    fn skip_value(&mut self) {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Str(_)) => {
                self.bump();
            }
            Some(TokenKind::Word(_)) if !self.at_connective() => {
                self.bump();
            }
            Some(TokenKind::LBracket) => {
                self.skip_past(TokenKind::LBracket, TokenKind::RBracket, 0);
            }
            _ => {}
        }
    }

    /// Goes one level deeper, or reports (once) that the rule nests too deep.
    fn enter(&mut self, at: Span) -> bool {
        if self.depth >= MAX_DEPTH {
            if !self.reported_too_deep {
                self.report.error(at, RuleError::TooDeep(MAX_DEPTH)).hint("flatten the rule or split it");
                self.reported_too_deep = true;
            }
            return false;
        }
        self.depth += 1;
        true
    }

    // Tokens.

    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.at)
    }

    fn peek_at(&self, ahead: usize) -> Option<&'t Token> {
        self.tokens.get(self.at + ahead)
    }

    fn bump(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.at);
        if token.is_some() {
            self.at += 1;
        }
        token
    }

    /// The span of the next token, or the empty span at the end of the text.
    fn here(&self) -> Span {
        self.peek().map_or(Span::new(self.source.len(), self.source.len()), |t| t.span)
    }

    /// The empty span just after the last token taken.
    fn previous_end(&self) -> Span {
        let end = self.at.checked_sub(1).and_then(|i| self.tokens.get(i)).map_or(0, |t| t.span.end);
        Span::new(end, end)
    }

    fn text(&self, span: Span) -> &str {
        self.source.get(span.start..span.end).unwrap_or_default()
    }

    /// Whether the next token is `keyword`, with or without its hyphen, in any case.
    fn at_keyword(&self, keyword: &str) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Dashed(word)) => word == keyword,
            Some(TokenKind::Word(word)) => word.eq_ignore_ascii_case(keyword),
            _ => false,
        }
    }

    /// Whether the next token is `-and` or `-or`, which end a condition.
    fn at_connective(&self) -> bool {
        self.at_keyword("and") || self.at_keyword("or")
    }

    fn starts_condition(&self) -> bool {
        (matches!(self.peek().map(|t| &t.kind), Some(TokenKind::LParen | TokenKind::Word(_)))
            && !self.at_connective())
            || self.at_keyword("not")
    }

    /// Reports that something else was expected here.
    fn expected(&mut self, expected: &'static str) -> &mut Diagnostic {
        let span = self.here();
        let found = match self.peek() {
            None => "the end of the rule".to_owned(),
            Some(token) => {
                let text = self.text(token.span);
                if text.chars().count() > 40 {
                    format!("`{}...`", text.chars().take(40).collect::<String>())
                } else {
                    format!("`{text}`")
                }
            }
        };
        self.report.error(span, RuleError::Expected { expected, found })
    }
}

/// What to write instead of an operator that does not exist.
fn operator_hint(keyword: &str) -> Option<String> {
    let fixed = match keyword.to_lowercase().as_str() {
        "equals" | "is" => "write `-eq`",
        "notequals" | "isnot" => "write `-ne`",
        "gt" | "lt" | "gte" | "lte" => "only `-le` and `-ge` compare by order, and only dates",
        "like" => "use `-match` with a regular expression, or `-contains`",
        "notlike" => "use `-notMatch` with a regular expression, or `-notContains`",
        "isnull" => "write `-eq null`",
        _ => {
            let names = Op::ALL.iter().map(|op| &op.as_str()[1..]).chain(["any", "all"]);
            let keyword = keyword.trim_start_matches('-');
            return nearest(keyword, names).map(|name| {
                let spelled =
                    Op::from_keyword(name).map_or_else(|| format!("-{name}"), |op| op.as_str().to_owned());
                format!("did you mean `{spelled}`?")
            });
        }
    };
    Some(fixed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::lexer::lex;

    /// The parse tree in a compact form, then the messages of any diagnostics.
    fn check(source: &str, expect: &str) {
        let mut report = Report::new(source);
        let tokens = lex(source, &mut report);
        let tree = parse(source, &tokens, &mut report);
        let mut out = show(&tree);
        for d in report.finish() {
            out.push_str(&format!("\n{d}"));
            if let Some(hint) = &d.hint {
                out.push_str(&format!(" (hint: {hint})"));
            }
        }
        assert_eq!(out, expect, "parsing {source}");
    }

    fn show(expr: &Expr) -> String {
        let join = |items: &[Expr], sep: &str| items.iter().map(show).collect::<Vec<_>>().join(sep);
        match expr {
            Expr::Or(items) => format!("or[{}]", join(items, ", ")),
            Expr::And(items) => format!("and[{}]", join(items, ", ")),
            Expr::Not { operand, .. } => format!("not {}", show(operand)),
            Expr::Paren { inner, .. } => format!("({})", show(inner)),
            Expr::Compare { subject, op, value, .. } => {
                format!("{} {} {}", subject.text, op.as_str(), value_text(value))
            }
            Expr::Quantified { subject, quantifier, predicate, .. } => {
                format!("{} {} {}", subject.text, quantifier.as_str(), show(predicate))
            }
            Expr::DirectReports { manager, .. } => format!("reports of {manager}"),
            Expr::Error(_) => "error".to_owned(),
        }
    }

    fn value_text(value: &Value) -> String {
        match value {
            Value::Quoted { text, .. } => format!("{text:?}"),
            Value::Bare { text, .. } => text.clone(),
            Value::List { items, .. } => {
                format!("[{}]", items.iter().map(value_text).collect::<Vec<_>>().join(" "))
            }
            Value::Now { offset: None, .. } => "now".to_owned(),
            Value::Now { offset: Some((sign, duration)), .. } => {
                format!("now {} {}", sign.as_str(), duration.text)
            }
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        check("a -eq 1 -or -not b -eq 2 -and c -eq 3", "or[a -eq 1, and[not b -eq 2, c -eq 3]]");
        check("(a -eq 1 -or b -eq 2) and not not c -eq 3", "and[(or[a -eq 1, b -eq 2]), not not c -eq 3]");
    }

    #[test]
    fn keywords_take_any_case_with_or_without_the_hyphen() {
        check("a EQ \"x\" OR b -NotIn ['y', \"z\"]", "or[a -eq \"x\", b -notIn [\"y\" \"z\"]]");
    }

    #[test]
    fn quantifiers_take_a_parenthesized_or_bare_predicate() {
        check(
            "user.proxyAddresses -any (_ -startsWith \"smtp:\" -or _ -eq \"x\")",
            "user.proxyAddresses -any (or[_ -startsWith \"smtp:\", _ -eq \"x\"])",
        );
        check("user.otherMails all _ -contains \"@\"", "user.otherMails -all _ -contains \"@\"");
    }

    #[test]
    fn system_now_with_and_without_an_offset() {
        check("d -ge system.now -plus p1d", "d -ge now -plus p1d");
        check("d -le SYSTEM.NOW minus PT1H", "d -le now -minus PT1H");
        check("d -le system.now", "d -le now");
    }

    #[test]
    fn direct_reports() {
        check("Direct Reports for \"m1\"", "reports of m1");
        check("direct reports FOR 'm1'", "reports of m1");
        check("Direct Reports for m1", "error\n1:20: expected the manager's id in quotes, found `m1`");
    }

    #[test]
    fn every_syntax_error_is_reported() {
        check(
            "a -eq -or b -equals \"x\" -and (c -eq \"y\"",
            "or[error, and[error, (c -eq \"y\")]]\n\
             1:7: expected a value, found `-or`\n\
             1:13: unknown operator `-equals` (hint: write `-eq`)\n\
             1:30: unclosed `(` (hint: close it with `)`)",
        );
        check(
            "a -eq \"x\") b -eq \"y\" \"z\"",
            "and[a -eq \"x\", b -eq \"y\"]\n\
             1:10: unmatched `)` (hint: remove it, or open it with `(` earlier)\n\
             1:12: expected `-and` or `-or`, found `b`\n\
             1:22: expected `-and` or `-or`, found `\"z\"`",
        );
    }

    #[test]
    fn not_is_not_a_comparison_operator() {
        check(
            "user.mail -not null",
            "error\n1:11: `-not` can't be used as a comparison operator (hint: test for a missing value with \
             `-eq null`, for a present one with `-ne null`; negate a comparison with `-not (...)`)",
        );
    }

    #[test]
    fn lists_report_missing_items_and_brackets() {
        check("a -in [\"x\",]", "a -in [\"x\"]\n1:12: expected a value, found `]`");
        check("a -in [\"x\" \"y\"]", "a -in [\"x\"]\n1:12: expected `,` or `]`, found `\"y\"`");
        check("a -in [\"x\",", "a -in [\"x\"]\n1:7: unclosed `[` (hint: close it with `]`)");
        check("a -in []", "a -in []");
    }

    #[test]
    fn unknown_operators_suggest_the_nearest() {
        check(
            "a -startwith \"x\"",
            "error\n1:3: unknown operator `-startwith` (hint: did you mean `-startsWith`?)",
        );
        check(
            "a -gt \"x\"",
            "error\n1:3: unknown operator `-gt` (hint: only `-le` and `-ge` compare by order, and only dates)",
        );
        check("a \"x\"", "error\n1:3: expected an operator such as `-eq`, found `\"x\"`");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}a -eq 1{}", "(".repeat(MAX_DEPTH + 5), ")".repeat(MAX_DEPTH + 5));
        let mut report = Report::new(&deep);
        let tokens = lex(&deep, &mut report);
        parse(&deep, &tokens, &mut report);
        let messages: Vec<String> = report.finish().iter().map(Diagnostic::message).collect();
        assert_eq!(messages, [format!("expressions are nested more than {MAX_DEPTH} levels deep")]);

        let nots = format!("{}a -eq 1", "-not ".repeat(MAX_DEPTH + 5));
        let mut report = Report::new(&nots);
        let tokens = lex(&nots, &mut report);
        parse(&nots, &tokens, &mut report);
        assert_eq!(report.finish().len(), 1);
    }
}
