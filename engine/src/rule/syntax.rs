//! The parse tree: what the rule text says, with spans, before names and values mean anything.
//!
//! The parser builds it; the checker resolves it against the schema into the [`super::ast`]. It
//! is loose on purpose: any name may stand on the left of any operator and any value on the
//! right, so that the checker, which knows the types, explains what is wrong.

use super::ast::{Op, Quantifier, Sign};
use super::error::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not {
        keyword: Span,
        operand: Box<Expr>,
    },
    Paren {
        span: Span,
        inner: Box<Expr>,
    },
    Compare {
        subject: Name,
        op: Op,
        op_span: Span,
        value: Value,
    },
    Quantified {
        subject: Name,
        quantifier: Quantifier,
        quantifier_span: Span,
        predicate: Box<Expr>,
    },
    DirectReports {
        span: Span,
        manager: String,
    },
    /// Text that did not parse; already reported.
    Error(Span),
}

/// A name as written: `user.department`, `_`, `assignedPlan.service`, `group.objectId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// In single or double quotes, escapes resolved.
    Quoted {
        text: String,
        span: Span,
    },
    /// Unquoted: `true`, `null`, `42`, `2020-06-10T18:13:20Z`, or a string someone forgot to quote.
    Bare {
        text: String,
        span: Span,
    },
    List {
        items: Vec<Value>,
        span: Span,
    },
    /// `system.now`, optionally `-plus` or `-minus` the duration as written.
    Now {
        span: Span,
        offset: Option<(Sign, Name)>,
    },
}

impl Expr {
    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Or(items) | Self::And(items) => match (items.first(), items.last()) {
                (Some(first), Some(last)) => first.span().to(last.span()),
                _ => Span::default(),
            },
            Self::Not { keyword, operand } => keyword.to(operand.span()),
            Self::Paren { span, .. } | Self::DirectReports { span, .. } | Self::Error(span) => *span,
            Self::Compare { subject, value, .. } => subject.span.to(value.span()),
            Self::Quantified { subject, predicate, .. } => subject.span.to(predicate.span()),
        }
    }

    /// The expression inside any number of parentheses.
    pub(crate) fn unparenthesized(&self) -> &Expr {
        match self {
            Self::Paren { inner, .. } => inner.unparenthesized(),
            other => other,
        }
    }
}

impl Value {
    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Quoted { span, .. }
            | Self::Bare { span, .. }
            | Self::List { span, .. }
            | Self::Now { span, .. } => *span,
        }
    }
}
