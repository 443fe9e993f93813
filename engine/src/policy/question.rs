//! Questions a policy asks requestors, and the answers a request gives
//! (`accessPackageQuestion`, `accessPackageAnswerString`).
//!
//! Text answers must match the question's `regexPattern`. Graph evaluates .NET regular
//! expressions with `Regex.IsMatch`, which finds a match anywhere in the answer; this engine does
//! the same with the `regex` crate, so anchor a pattern (`^[0-9]{6}$`) to constrain the whole
//! answer. Patterns that need .NET-only features (look-around, backreferences) are refused when
//! the policy is saved. A multiple-choice question with `isMultipleSelectionAllowed` is answered
//! with one answer per selected choice.

use std::collections::{BTreeMap, BTreeSet};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::directory::ObjectRef;
use crate::error::Problems;

/// The longest `regexPattern` accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 1_000;
/// The compiled size a pattern may reach, so that a hostile pattern cannot exhaust memory.
pub const MAX_PATTERN_BYTES: usize = 1 << 20;
/// The longest answer accepted, in characters.
pub const MAX_ANSWER_CHARS: usize = 4_000;

/// `accessPackageLocalizedText`: a text in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageLocalizedText {
    /// An ISO 639-1 code with an optional region: `en-US`, `fr`.
    #[serde(default)]
    pub language_code: String,
    #[serde(default)]
    pub text: String,
}

/// `accessPackageAnswerChoice`: one option of a multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAnswerChoice {
    /// The value an answer carries when this choice is picked.
    pub actual_value: String,
    /// What the requestor sees.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub localizations: Vec<AccessPackageLocalizedText>,
}

/// The subtype of a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QuestionKind {
    /// `accessPackageTextInputQuestion`: short (single-line) or long text.
    #[serde(rename = "accessPackageTextInputQuestion", rename_all = "camelCase")]
    TextInput {
        #[serde(default)]
        is_single_line_question: bool,
        #[serde(default)]
        regex_pattern: Option<String>,
    },
    /// `accessPackageMultipleChoiceQuestion`.
    #[serde(rename = "accessPackageMultipleChoiceQuestion", rename_all = "camelCase")]
    MultipleChoice {
        #[serde(default)]
        choices: Vec<AccessPackageAnswerChoice>,
        /// Beta spelled it `allowsMultipleSelection`.
        #[serde(default, alias = "allowsMultipleSelection")]
        is_multiple_selection_allowed: bool,
    },
}

/// `accessPackageQuestion`: something a requestor is asked when requesting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageQuestion {
    /// Unique within the policy. Left empty in an input, it is derived when the policy is saved.
    #[serde(default)]
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub localizations: Vec<AccessPackageLocalizedText>,
    #[serde(default)]
    pub is_required: bool,
    /// Whether the requestor may change the answer later, with an update request.
    #[serde(default)]
    pub is_answer_editable: bool,
    /// Display order.
    #[serde(default)]
    pub sequence: i32,
    #[serde(flatten)]
    pub kind: QuestionKind,
}

/// `accessPackageAnswerString`: the answer to one question (for a multiple-choice question,
/// `value` is the chosen `actualValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAnswerString {
    pub value: String,
    /// What the requestor saw: the choice text, or the value itself. Filled in on submission.
    #[serde(default)]
    pub display_value: Option<String>,
    pub answered_question: ObjectRef,
}

impl AccessPackageAnswerString {
    /// The answer `value` to question `question_id`.
    #[must_use]
    pub fn new(question_id: &str, value: &str) -> Self {
        Self {
            value: value.to_owned(),
            display_value: None,
            answered_question: ObjectRef { id: question_id.to_owned() },
        }
    }
}

/// Compiles a question's pattern with the size limits; the error is a message for the user.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("the pattern is longer than {MAX_PATTERN_CHARS} characters"));
    }
    RegexBuilder::new(pattern)
        .size_limit(MAX_PATTERN_BYTES)
        .dfa_size_limit(MAX_PATTERN_BYTES)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "the pattern is too complex".to_owned(),
            regex::Error::Syntax(text) => format!(
                "`{pattern}` is not a valid regular expression (look-around and backreferences are not supported): {}",
                text.lines().last().unwrap_or_default().trim()
            ),
            _ => format!("`{pattern}` is not a valid regular expression"),
        })
}

/// Checks the questions of a policy: non-empty text, unique ids and sequences, patterns that
/// compile, choices that are non-empty and unique, localizations with a language code.
pub fn check_questions(questions: &[AccessPackageQuestion], problems: &mut Problems) {
    let mut ids = BTreeMap::new();
    let mut sequences = BTreeMap::new();
    for (i, q) in questions.iter().enumerate() {
        let at = format!("questions[{i}]");
        if q.text.trim().is_empty() {
            problems.push(format!("{at}.text"), "a question needs a text");
        }
        if q.id.trim().is_empty() {
            problems.push(format!("{at}.id"), "a question needs an id");
        } else if let Some(first) = ids.insert(q.id.as_str(), i) {
            problems.push(format!("{at}.id"), format!("id `{}` is already used by questions[{first}]", q.id));
        }
        if q.sequence < 0 {
            problems.push(format!("{at}.sequence"), "the sequence must not be negative");
        } else if let Some(first) = sequences.insert(q.sequence, i) {
            problems.push(
                format!("{at}.sequence"),
                format!(
                    "sequence {} is already used by questions[{first}]; each question needs its own place",
                    q.sequence
                ),
            );
        }
        check_localizations(&q.localizations, &format!("{at}.localizations"), problems);
        match &q.kind {
            QuestionKind::TextInput { regex_pattern, .. } => {
                if let Some(pattern) = regex_pattern.as_deref().filter(|p| !p.is_empty())
                    && let Err(message) = compile_pattern(pattern)
                {
                    problems.push(format!("{at}.regexPattern"), message);
                }
            }
            QuestionKind::MultipleChoice { choices, .. } => {
                if choices.is_empty() {
                    problems.push(
                        format!("{at}.choices"),
                        "a multiple-choice question needs at least one choice",
                    );
                }
                let mut values = BTreeMap::new();
                for (j, choice) in choices.iter().enumerate() {
                    let at = format!("{at}.choices[{j}]");
                    if choice.actual_value.trim().is_empty() {
                        problems.push(format!("{at}.actualValue"), "a choice needs an `actualValue`");
                    } else if let Some(first) = values.insert(choice.actual_value.as_str(), j) {
                        problems.push(
                            format!("{at}.actualValue"),
                            format!("`{}` is already the value of choices[{first}]", choice.actual_value),
                        );
                    }
                    if choice.text.trim().is_empty() {
                        problems.push(format!("{at}.text"), "a choice needs a text");
                    }
                    check_localizations(&choice.localizations, &format!("{at}.localizations"), problems);
                }
            }
        }
    }
}

fn check_localizations(localizations: &[AccessPackageLocalizedText], at: &str, problems: &mut Problems) {
    let mut codes = BTreeSet::new();
    for (k, l) in localizations.iter().enumerate() {
        let code = l.language_code.trim();
        if code.is_empty() {
            problems.push(format!("{at}[{k}].languageCode"), "a localized text needs a `languageCode`");
        } else if !is_language_code(code) {
            problems.push(
                format!("{at}[{k}].languageCode"),
                format!("`{code}` is not a language code such as `en` or `en-US`"),
            );
        } else if !codes.insert(code.to_ascii_lowercase()) {
            problems.push(format!("{at}[{k}].languageCode"), format!("`{code}` is localized twice"));
        }
        if l.text.trim().is_empty() {
            problems.push(format!("{at}[{k}].text"), "a localized text must not be empty");
        }
    }
}

/// `en`, `fr-CA`, `zh-Hant-TW`: a 2–3 letter language with optional alphanumeric subtags.
fn is_language_code(code: &str) -> bool {
    let mut parts = code.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    language_ok && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Whether answers are for a new assignment (required questions must be answered) or change
/// the answers of an existing one (only editable questions may be answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    New,
    Update,
}

/// Checks a request's answers against the policy's questions, reporting every problem under
/// `answers`. Returns the answers with `displayValue` filled in.
pub fn check_answers(
    questions: &[AccessPackageQuestion],
    answers: &[AccessPackageAnswerString],
    mode: AnswerMode,
    problems: &mut Problems,
) -> Vec<AccessPackageAnswerString> {
    let by_id: BTreeMap<&str, &AccessPackageQuestion> =
        questions.iter().map(|q| (q.id.as_str(), q)).collect();
    let mut answered: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut out = Vec::with_capacity(answers.len());
    for (i, answer) in answers.iter().enumerate() {
        let at = format!("answers[{i}]");
        let Some(question) = by_id.get(answer.answered_question.id.as_str()) else {
            problems.push(
                format!("{at}.answeredQuestion.id"),
                format!("the policy has no question `{}`", answer.answered_question.id),
            );
            continue;
        };
        if answer.value.trim().is_empty() {
            // An empty answer is no answer; a required question is reported below.
            continue;
        }
        answered.entry(question.id.as_str()).or_default().push(i);
        if mode == AnswerMode::Update && !question.is_answer_editable {
            problems.push(
                format!("{at}.answeredQuestion.id"),
                format!("the answer to question `{}` cannot be changed", question.text),
            );
            continue;
        }
        if answer.value.chars().count() > MAX_ANSWER_CHARS {
            problems
                .push(format!("{at}.value"), format!("an answer is at most {MAX_ANSWER_CHARS} characters"));
            continue;
        }
        let display = match &question.kind {
            QuestionKind::TextInput { is_single_line_question, regex_pattern } => {
                if *is_single_line_question && answer.value.contains(['\n', '\r']) {
                    problems.push(
                        format!("{at}.value"),
                        format!("question `{}` takes a single line", question.text),
                    );
                }
                if let Some(pattern) = regex_pattern.as_deref().filter(|p| !p.is_empty()) {
                    match compile_pattern(pattern) {
                        Ok(re) if re.is_match(&answer.value) => {}
                        Ok(_) => problems.push(
                            format!("{at}.value"),
                            format!(
                                "`{}` does not match the pattern `{pattern}` of question `{}`",
                                answer.value, question.text
                            ),
                        ),
                        Err(message) => problems.push(format!("{at}.value"), message),
                    }
                }
                answer.value.clone()
            }
            QuestionKind::MultipleChoice { choices, .. } => {
                match choices.iter().find(|c| c.actual_value == answer.value) {
                    Some(choice) => choice.text.clone(),
                    None => {
                        problems.push(
                            format!("{at}.value"),
                            format!(
                                "`{}` is not a choice of question `{}`; the choices are {}",
                                answer.value,
                                question.text,
                                choices
                                    .iter()
                                    .map(|c| format!("`{}`", c.actual_value))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        answer.value.clone()
                    }
                }
            }
        };
        out.push(AccessPackageAnswerString { display_value: Some(display), ..answer.clone() });
    }
    for question in questions {
        let given = answered.get(question.id.as_str()).map_or(&[][..], Vec::as_slice);
        if given.is_empty() && question.is_required && mode == AnswerMode::New {
            problems.push(
                "answers",
                format!("required question `{}` (`{}`) has no answer", question.text, question.id),
            );
        }
        let multiple =
            matches!(question.kind, QuestionKind::MultipleChoice { is_multiple_selection_allowed: true, .. });
        if given.len() > 1 && !multiple {
            problems.push(
                format!("answers[{}]", given[1]),
                format!("question `{}` takes one answer", question.text),
            );
        }
        if multiple {
            let mut seen = BTreeSet::new();
            for &i in given {
                if !seen.insert(answers[i].value.as_str()) {
                    problems.push(
                        format!("answers[{i}].value"),
                        format!("`{}` is chosen twice", answers[i].value),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_question(id: &str, required: bool, pattern: Option<&str>) -> AccessPackageQuestion {
        AccessPackageQuestion {
            id: id.into(),
            text: format!("{id}?"),
            localizations: vec![],
            is_required: required,
            is_answer_editable: false,
            sequence: 0,
            kind: QuestionKind::TextInput {
                is_single_line_question: true,
                regex_pattern: pattern.map(str::to_owned),
            },
        }
    }

    fn choice_question(id: &str, multiple: bool, values: &[&str]) -> AccessPackageQuestion {
        AccessPackageQuestion {
            sequence: 1,
            kind: QuestionKind::MultipleChoice {
                choices: values
                    .iter()
                    .map(|v| AccessPackageAnswerChoice {
                        actual_value: (*v).into(),
                        text: v.to_uppercase(),
                        localizations: vec![],
                    })
                    .collect(),
                is_multiple_selection_allowed: multiple,
            },
            ..text_question(id, true, None)
        }
    }

    /// Checks `answers` (question id, value) and expects the listed `path: message` fragments.
    fn check(questions: &[AccessPackageQuestion], answers: &[(&str, &str)], expect: &[&str]) {
        let answers: Vec<_> = answers.iter().map(|(q, v)| AccessPackageAnswerString::new(q, v)).collect();
        let mut problems = Problems::default();
        check_answers(questions, &answers, AnswerMode::New, &mut problems);
        let got: Vec<String> = problems.into_inner().iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), expect.len(), "{got:#?}");
        for (g, e) in got.iter().zip(expect) {
            assert!(g.contains(e), "`{g}` lacks `{e}`");
        }
    }

    #[test]
    fn answers_are_checked_against_their_questions() {
        let qs = [
            text_question("cc", true, Some("^[0-9]{4}$")),
            choice_question("site", false, &["emea", "amer"]),
        ];
        check(&qs, &[("cc", "1234"), ("site", "emea")], &[]);
        check(&qs, &[("site", "emea")], &["answers: required question `cc?`"]);
        check(&qs, &[("cc", "  "), ("site", "emea")], &["required question `cc?`"]);
        check(
            &qs,
            &[("cc", "12345"), ("site", "emea")],
            &["answers[0].value: `12345` does not match the pattern"],
        );
        check(&qs, &[("cc", "1234"), ("site", "apac")], &["answers[1].value: `apac` is not a choice"]);
        check(
            &qs,
            &[("cc", "1234"), ("site", "emea"), ("site", "amer")],
            &["answers[2]: question `site?` takes one answer"],
        );
        check(
            &qs,
            &[("cc", "1234"), ("site", "emea"), ("nope", "x")],
            &["answers[2].answeredQuestion.id: the policy has no question `nope`"],
        );
        check(&qs, &[("cc", "12\n34"), ("site", "emea")], &["single line", "does not match"]);
    }

    #[test]
    fn multiple_selection_takes_distinct_choices() {
        let qs = [choice_question("site", true, &["emea", "amer"])];
        check(&qs, &[("site", "emea"), ("site", "amer")], &[]);
        check(&qs, &[("site", "emea"), ("site", "emea")], &["answers[1].value: `emea` is chosen twice"]);
    }

    #[test]
    fn updates_change_only_editable_answers_and_need_no_required_ones() {
        let mut editable = text_question("cc", true, None);
        editable.is_answer_editable = true;
        let fixed = choice_question("site", false, &["emea"]);
        let questions = [editable, fixed];
        let mut problems = Problems::default();
        check_answers(
            &questions,
            &[AccessPackageAnswerString::new("cc", "1")],
            AnswerMode::Update,
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        check_answers(
            &questions,
            &[AccessPackageAnswerString::new("site", "emea")],
            AnswerMode::Update,
            &mut problems,
        );
        let got: Vec<String> = problems.into_inner().iter().map(ToString::to_string).collect();
        assert_eq!(got, ["answers[0].answeredQuestion.id: the answer to question `site?` cannot be changed"]);
    }

    #[test]
    fn display_values_are_filled_in() {
        let qs = [choice_question("site", false, &["emea"])];
        let mut problems = Problems::default();
        let out = check_answers(
            &qs,
            &[AccessPackageAnswerString::new("site", "emea")],
            AnswerMode::New,
            &mut problems,
        );
        assert_eq!(out[0].display_value.as_deref(), Some("EMEA"));
    }

    #[test]
    fn unanchored_patterns_match_anywhere_as_in_dotnet() {
        let qs = [text_question("q", true, Some("[0-9]+"))];
        check(&qs, &[("q", "cost center 42")], &[]);
    }

    #[test]
    fn patterns_compile_with_limits() {
        assert!(compile_pattern("^[a-z]+$").is_ok());
        assert!(compile_pattern("(?<=a)b").err().is_some_and(|m| m.contains("look-around")));
        assert!(compile_pattern(&"a".repeat(MAX_PATTERN_CHARS + 1)).is_err());
        assert!(compile_pattern("(((a{100}){100}){100})").err().is_some_and(|m| m.contains("too complex")));
    }

    #[test]
    fn questions_are_checked_with_paths() {
        let mut dup = text_question("a", false, Some("("));
        dup.localizations = vec![
            AccessPackageLocalizedText { language_code: String::new(), text: "x".into() },
            AccessPackageLocalizedText { language_code: "english".into(), text: "x".into() },
            AccessPackageLocalizedText { language_code: "fr".into(), text: "x".into() },
            AccessPackageLocalizedText { language_code: "FR".into(), text: " ".into() },
        ];
        let empty_choices = AccessPackageQuestion { text: " ".into(), ..choice_question("a", false, &[]) };
        let mut bad_choices = choice_question("c", false, &["x", "x", ""]);
        bad_choices.sequence = 7;
        let mut problems = Problems::default();
        check_questions(&[dup, empty_choices, bad_choices], &mut problems);
        let paths: Vec<String> = problems.into_inner().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "questions[0].localizations[0].languageCode",
                "questions[0].localizations[1].languageCode",
                "questions[0].localizations[3].languageCode",
                "questions[0].localizations[3].text",
                "questions[0].regexPattern",
                "questions[1].text",
                "questions[1].id",
                "questions[1].choices",
                "questions[2].choices[1].actualValue",
                "questions[2].choices[2].actualValue",
                "questions[2].choices[2].text",
            ]
        );
    }

    #[test]
    fn questions_read_graph_json() {
        let json = r#"[
          {"type":"accessPackageTextInputQuestion","id":"q1","text":"Why?","isRequired":true,"sequence":0,
           "isSingleLineQuestion":true,"regexPattern":"^.+$","localizations":[{"languageCode":"fr","text":"Pourquoi ?"}]},
          {"type":"accessPackageMultipleChoiceQuestion","id":"q2","text":"Site?","sequence":1,
           "allowsMultipleSelection":true,"choices":[{"actualValue":"emea","text":"EMEA"}]}]"#;
        let qs: Result<Vec<AccessPackageQuestion>, _> = serde_json::from_str(json);
        let qs = qs.unwrap_or_default();
        assert_eq!(qs.len(), 2);
        assert!(matches!(
            qs[1].kind,
            QuestionKind::MultipleChoice { is_multiple_selection_allowed: true, .. }
        ));
        let back = serde_json::to_value(&qs[1]).ok();
        assert_eq!(
            back.as_ref().and_then(|v| v.get("isMultipleSelectionAllowed")),
            Some(&serde_json::json!(true))
        );
    }
}
