//! Diagnostics of the rule language: what is wrong with a rule, where, and how to fix it.
//!
//! Every stage reports into one [`Report`], which collects every problem rather than stopping at
//! the first, so an administrator fixes a rule in one pass. A [`Diagnostic`] carries the byte
//! [`Span`], the 1-based line and column, the offending text and a hint, and renders itself the
//! way rustc does: the source line with the offending text underlined by carets.
//!
//! Messages are lowercase, without a final period, with user input in backticks.

use std::fmt::Write as _;

/// A byte range of the rule text, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    #[must_use]
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end: end.max(start) }
    }

    /// The smallest span covering both.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// What is wrong with a rule. The message is the `Display` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    // The text as a whole, and the lexer.
    #[error("the rule is {chars} characters long, over the limit of {limit}")]
    TooLong { chars: usize, limit: usize },
    #[error("unterminated string")]
    UnterminatedString,
    #[error("unexpected character `{0}`")]
    UnexpectedCharacter(char),
    #[error("`{0}` is not an operator of the rule language")]
    SymbolOperator(String),
    #[error("a backslash doesn't escape a double quote")]
    BackslashEscape,
    #[error("curly quotes don't delimit strings")]
    CurlyQuotes,

    // The parser.
    #[error("expected {expected}, found {found}")]
    Expected { expected: &'static str, found: String },
    #[error("unknown operator `{0}`")]
    UnknownOperator(String),
    #[error("`-not` can't be used as a comparison operator")]
    NotAsComparator,
    #[error("unclosed `(`")]
    UnclosedParenthesis,
    #[error("unmatched `)`")]
    UnmatchedParenthesis,
    #[error("unclosed `[`")]
    UnclosedBracket,
    #[error("expressions are nested more than {0} levels deep")]
    TooDeep(usize),

    // The check against the schema.
    #[error("unknown property `{0}`")]
    UnknownProperty(String),
    #[error("`{0}` needs the `user.` prefix")]
    MissingPrefix(String),
    #[error("device properties can't be used in a user rule")]
    DeviceProperty,
    #[error("`{op}` can't be used with the {kind} property `{property}`")]
    OperatorMismatch { op: &'static str, kind: &'static str, property: String },
    #[error("`{0}` can only be used with `user.employeeHireDate`")]
    DateOperator(&'static str),
    #[error("`{0}` is a collection: test its elements with `-any` or `-all`")]
    CollectionNeedsQuantifier(String),
    #[error("`{quantifier}` needs a collection, but `{property}` is a {kind} property")]
    NotACollection { quantifier: &'static str, property: String, kind: &'static str },
    #[error("`_` can only be used inside `-any` or `-all`")]
    ElementOutsideQuantifier,
    #[error("`{0}` can only be used inside `user.assignedPlans -any` or `-all`")]
    PlanOutsideQuantifier(String),
    #[error("`{found}` can't be tested inside a quantifier over `{collection}`")]
    WrongElement { found: String, collection: &'static str },
    #[error("`-any` and `-all` can't be nested")]
    NestedQuantifier,
    #[error("string values must be quoted: `{0}`")]
    UnquotedString(String),
    #[error("expected {expected}, found `{found}`")]
    WrongValue { expected: &'static str, found: String },
    #[error("`null` can only be compared with `-eq` or `-ne`")]
    NullOperator,
    #[error("`{0}` needs a list of values in brackets")]
    NeedsList(&'static str),
    #[error("a list can only be compared with `-in` or `-notIn`")]
    UnexpectedList,
    #[error("the list is empty")]
    EmptyList,
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    #[error("`{0}` is not a date and time")]
    InvalidDate(String),
    #[error("`{0}` is not an ISO 8601 duration")]
    InvalidDuration(String),
    #[error("`system.now` can only be compared with `user.employeeHireDate`")]
    NowOutsideDate,
    #[error("`memberOf` can't be combined with other expressions")]
    MemberOfCombined,
    #[error("a `memberOf` rule must read `user.memberOf -any (group.objectId -in ['<group id>', ...])`")]
    MemberOfForm,
    #[error("the rule lists {count} groups, over the limit of {limit}")]
    TooManyGroups { count: usize, limit: usize },
    #[error("`Direct Reports for` can't be combined with other expressions")]
    DirectReportsCombined,
    #[error("the {0} id is empty")]
    EmptyId(&'static str),
}

/// One problem with a rule: what, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {error}")]
pub struct Diagnostic {
    pub error: RuleError,
    /// Byte offsets into the rule text.
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column of `span.start`, counted in characters.
    pub column: usize,
    /// The offending text, `source[span]`.
    pub text: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// The message alone, without position or hint.
    #[must_use]
    pub fn message(&self) -> String {
        self.error.to_string()
    }

    /// The diagnostic as rustc prints one: the message, the position, the source line with the
    /// offending text underlined by carets, and the hint.
    ///
    /// ```text
    /// error: unknown property `user.departmnet`
    ///  --> 1:1
    ///   |
    /// 1 | user.departmnet -eq "Sales"
    ///   | ^^^^^^^^^^^^^^^
    ///   = hint: did you mean `user.department`?
    /// ```
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        let start = floor_boundary(source, self.span.start);
        let before = source.get(..start).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end =
            source.get(start..).and_then(|rest| rest.find('\n')).map_or(source.len(), |i| start + i);
        let line_text = source.get(line_start..line_end).unwrap_or_default().trim_end_matches('\r');
        let text_end = line_start + line_text.len();
        let end = floor_boundary(source, self.span.end.clamp(start, text_end.max(start)));
        let (line, column) = position(source, start);

        let pad: String = source
            .get(line_start..start)
            .unwrap_or_default()
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(source.get(start..end).unwrap_or_default().chars().count().max(1));
        let number = line.to_string();
        let gutter = " ".repeat(number.len());

        let mut out = format!("error: {}\n", self.error);
        let _ = writeln!(out, "{gutter}--> {line}:{column}");
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{number} | {line_text}");
        let _ = write!(out, "{gutter} | {pad}{carets}");
        if let Some(hint) = &self.hint {
            let _ = write!(out, "\n{gutter} = hint: {hint}");
        }
        out
    }

    /// Adds a hint on how to fix the problem.
    pub(crate) fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Collects the diagnostics of every stage over one rule text.
#[derive(Debug)]
pub(crate) struct Report<'s> {
    source: &'s str,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Report<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Self { source, diagnostics: Vec::new() }
    }

    /// Records a problem at `span`; the returned diagnostic takes a hint.
    pub(crate) fn error(&mut self, span: Span, error: RuleError) -> &mut Diagnostic {
        let start = floor_boundary(self.source, span.start);
        let end = floor_boundary(self.source, span.end.max(start));
        let (line, column) = position(self.source, start);
        let text = self.source.get(start..end).unwrap_or_default().to_owned();
        let index = self.diagnostics.len();
        self.diagnostics.push(Diagnostic {
            error,
            span: Span::new(start, end),
            line,
            column,
            text,
            hint: None,
        });
        &mut self.diagnostics[index]
    }

    /// The text of a span, or nothing when the span does not fit the text.
    pub(crate) fn text(&self, span: Span) -> String {
        self.source.get(span.start..span.end).unwrap_or_default().to_owned()
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }

    /// Every diagnostic, in the order of the text.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| d.span);
        self.diagnostics.dedup_by(|a, b| a.span == b.span && a.error == b.error);
        self.diagnostics
    }
}

/// The candidate nearest to `word` by edit distance, ignoring case, if it is near enough to be a
/// plausible typo.
pub(crate) fn nearest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&word, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, counted in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            let insert = current[j] + 1;
            let delete = previous[j + 1] + 1;
            current.push(substitute.min(insert).min(delete));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}

/// 1-based line and character column of a byte offset.
fn position(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..floor_boundary(source, offset)).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

/// The largest char boundary at or before `offset`, within the text.
fn floor_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(source: &str, span: Span, error: RuleError, hint: Option<&str>) -> Diagnostic {
        let mut report = Report::new(source);
        let diagnostic = report.error(span, error);
        if let Some(hint) = hint {
            diagnostic.hint(hint);
        }
        report.finish().remove(0)
    }

    #[test]
    fn renders_like_rustc() {
        let source = "user.departmnet -eq \"Sales\"";
        let d = one(
            source,
            Span::new(0, 15),
            RuleError::UnknownProperty("user.departmnet".into()),
            Some("did you mean `user.department`?"),
        );
        assert_eq!((d.line, d.column, d.text.as_str()), (1, 1, "user.departmnet"));
        assert_eq!(
            d.render(source),
            "error: unknown property `user.departmnet`\n --> 1:1\n  |\n1 | user.departmnet -eq \"Sales\"\n  | \
             ^^^^^^^^^^^^^^^\n  = hint: did you mean `user.department`?"
        );
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let source = "user.city -eq \"Zürich\"\r\n-and user.x -eq \"y\"";
        let at = source.find("user.x").unwrap_or_default();
        let d = one(source, Span::new(at, at + 6), RuleError::UnknownProperty("user.x".into()), None);
        assert_eq!((d.line, d.column), (2, 6));
        assert_eq!(d.render(source).lines().nth(3), Some("2 | -and user.x -eq \"y\""));
        assert_eq!(d.render(source).lines().nth(4), Some("  |      ^^^^^^"));
    }

    #[test]
    fn an_empty_span_at_the_end_still_gets_a_caret() {
        let source = "user.city -eq";
        let d = one(
            source,
            Span::new(13, 13),
            RuleError::Expected { expected: "a value", found: "the end of the rule".into() },
            None,
        );
        assert_eq!(d.render(source).lines().last(), Some("  |              ^"));
    }

    #[test]
    fn spans_off_char_boundaries_do_not_panic() {
        let source = "é";
        let d = one(source, Span::new(1, 9), RuleError::UnterminatedString, None);
        assert_eq!(d.span, Span::new(0, 2));
        assert!(d.render(source).contains('^'));
    }

    #[test]
    fn nearest_suggests_only_plausible_typos() {
        let names = ["department", "displayName", "city"];
        assert_eq!(nearest("departmnet", names), Some("department"));
        assert_eq!(nearest("CITTY", names), Some("city"));
        assert_eq!(nearest("favouriteColour", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
