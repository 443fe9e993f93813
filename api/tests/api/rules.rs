//! Dynamic membership rules: the `membershipRulePreview` query over the directory, and the
//! `em-api rule check` / `em-api rule eval` commands on a directory file.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{TestServer, directory, pluck, text};

const PREVIEW: &str =
    "query($rule: String!, $first: Int!) { membershipRulePreview(rule: $rule, first: $first) {
    isValid normalized matchCount matches { objectId } errors { message line column text hint rendered } } }";

#[tokio::test]
async fn a_rule_preview_counts_and_lists_the_users_it_selects() {
    let server = TestServer::with_directory().await;
    let data = server.data(PREVIEW, json!({"rule": "user.department -eq \"sales\" -and user.country -in [\"Germany\",\"France\"]", "first": 1})).await;
    let preview = &data["membershipRulePreview"];
    assert_eq!(preview["isValid"], true);
    assert_eq!(
        preview["normalized"],
        "user.department -eq \"sales\" -and user.country -in [\"Germany\", \"France\"]"
    );
    assert_eq!(preview["matchCount"], 2, "Bob and Carol are in Sales in Germany");
    assert_eq!(pluck(&preview["matches"], "objectId"), ["u-bob"], "the first match by object id");
    let members = server
        .data(PREVIEW, json!({"rule": "user.memberOf -any (group.objectId -in ['g-sales'])", "first": 10}))
        .await;
    assert_eq!(pluck(&members["membershipRulePreview"]["matches"], "objectId"), ["u-bob", "u-carol"]);
}

#[tokio::test]
async fn a_rule_preview_reports_every_error_with_its_position_and_hint() {
    let server = TestServer::with_directory().await;
    let data = server
        .data(PREVIEW, json!({"rule": "user.departmnt -eq \"Sales\" -and user.city -le \"x\"", "first": 5}))
        .await;
    let preview = &data["membershipRulePreview"];
    assert_eq!(preview["isValid"], false);
    assert_eq!(preview["matchCount"], 0);
    let errors = preview["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0]["line"].clone(), errors[0]["column"].clone()), (json!(1), json!(1)));
    assert_eq!(errors[0]["text"], "user.departmnt");
    assert!(errors[0]["hint"].as_str().unwrap_or_default().contains("user.department"), "{errors:?}");
    assert!(errors[1]["message"].as_str().unwrap_or_default().contains("-le"), "{errors:?}");
    assert!(errors[0]["rendered"].as_str().unwrap_or_default().contains("^^^"), "{errors:?}");
}

fn em_api(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_em-api")).args(args).output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn rule_check_prints_the_normalized_rule_or_the_errors_with_exit_code_2() {
    let (stdout, _, code) =
        em_api(&["rule", "check", "user.department -eq \"Sales\" or user.department -eq \"Marketing\""]);
    assert_eq!(
        (stdout.as_str(), code),
        ("user.department -eq \"Sales\" -or user.department -eq \"Marketing\"\n", 0)
    );
    let (stdout, stderr, code) = em_api(&["rule", "check", "user.departmnt -eq \"Sales\""]);
    assert_eq!((stdout.as_str(), code), ("", 2));
    assert!(
        stderr.contains("unknown property `user.departmnt`")
            && stderr.contains("did you mean `user.department`"),
        "{stderr}"
    );
}

#[test]
fn rule_eval_prints_the_matching_ids_of_a_directory_file_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.json");
    std::fs::write(&file, directory().to_string()).unwrap();
    let path = file.to_string_lossy().into_owned();
    let cases: &[(&str, &str)] = &[
        ("user.country -eq \"Germany\"", "u-bob\nu-carol\nu-eve\n"),
        ("user.userType -eq \"Guest\"", "u-eve\n"),
        ("user.accountEnabled -eq false", "u-eve\n"),
        ("Direct Reports for \"u-ada\"", "u-bob\nu-carol\nu-dan\n"),
        ("user.extensionAttribute15 -eq \"emea\"", "u-ada\n"),
        ("user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq \"101\"", "u-ada\n"),
        ("user.employeeHireDate -le 2016-01-01T00:00:00Z", "u-ada\n"),
        ("user.mail -endsWith \"@fabrikam.com\"", "u-eve\n"),
    ];
    for (rule, expected) in cases {
        let (stdout, stderr, code) =
            em_api(&["rule", "eval", "--directory", &path, "--now", "2026-01-01T00:00:00Z", rule]);
        assert_eq!((stdout.as_str(), code), (*expected, 0), "{rule}: {stderr}");
    }
    let (_, stderr, code) = em_api(&["rule", "eval", "--directory", &path, "user.city -le \"x\""]);
    assert_eq!(code, 2, "{stderr}");
}

/// The engine's rule corpus (`engine/tests/corpus/`): every documented example rule and error
/// case, with the ids each selects in the corpus's directory file or the errors it reports.
const CORPUS: &str = include_str!("../../../engine/tests/corpus/rules.json");
const CORPUS_DIRECTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../engine/tests/corpus/directory.json");

/// Runs a corpus case through `rule check` and `rule eval`: how their output differs from the
/// case, if it does.
fn corpus_case(case: &Value, now: &str) -> Vec<String> {
    let rule = case["rule"].as_str().unwrap_or_default();
    let (checked, check_err, check_code) = em_api(&["rule", "check", rule]);
    let (selected, eval_err, eval_code) =
        em_api(&["rule", "eval", "--directory", CORPUS_DIRECTORY, "--now", now, rule]);
    let mut problems = Vec::new();
    let Some(errors) = case["errors"].as_array() else {
        let normalized = format!("{}\n", text(&case["normalized"]));
        if (checked.as_str(), check_code) != (normalized.as_str(), 0) {
            problems.push(format!(
                "check: expected {normalized:?}, exit 0; found {checked:?}, exit {check_code}\n{check_err}"
            ));
        }
        let ids = case["selects"].as_array().into_iter().flatten();
        let expected: String = ids.map(|id| format!("{}\n", text(id))).collect();
        if (selected.as_str(), eval_code) != (expected.as_str(), 0) {
            problems.push(format!(
                "eval: expected {expected:?}, exit 0; found {selected:?}, exit {eval_code}\n{eval_err}"
            ));
        }
        return problems;
    };
    if (checked.as_str(), check_code) != ("", 2) {
        problems.push(format!("check: expected errors and exit 2; found {checked:?}, exit {check_code}"));
    }
    // Each error in order: its message, its line and column, and its hint.
    let fragments = errors.iter().flat_map(|error| {
        let hint = error["hint"].as_str().map(|hint| format!("= hint: {hint}"));
        [format!("error: {}\n", text(&error["message"])), format!("--> {}\n", text(&error["at"]))]
            .into_iter()
            .chain(hint)
    });
    let mut rest = check_err.as_str();
    for fragment in fragments {
        let Some(at) = rest.find(&fragment) else {
            problems
                .push(format!("check: {:?} missing or out of order in\n{check_err}", fragment.trim_end()));
            break;
        };
        rest = &rest[at + fragment.len()..];
    }
    let reported = check_err.lines().filter(|line| line.starts_with("error: ")).count();
    let count = match errors.len() {
        1 => "1 error in the rule\n".to_owned(),
        n => format!("{n} errors in the rule\n"),
    };
    if reported != errors.len() || !check_err.ends_with(&count) {
        problems.push(format!("check: expected {count:?} at the end; found {reported} errors\n{check_err}"));
    }
    if (selected.as_str(), eval_err.as_str(), eval_code) != ("", check_err.as_str(), 2) {
        problems.push(format!(
            "eval: expected the errors of check and exit 2; found exit {eval_code}\n{eval_err}"
        ));
    }
    problems
}

#[test]
fn every_rule_of_the_corpus_checks_and_evaluates_through_the_command_line_as_in_the_engine() {
    let corpus: Value = serde_json::from_str(CORPUS).unwrap();
    let now = text(&corpus["now"]);
    let sections = corpus["sections"].as_array().into_iter().flatten();
    let cases: Vec<&Value> =
        sections.flat_map(|section| section["cases"].as_array().into_iter().flatten()).collect();
    assert!(cases.len() >= 84, "only {} cases in the corpus", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .flat_map(|case| {
            let rule = text(&case["rule"]);
            corpus_case(case, &now).into_iter().map(move |problem| format!("rule: {rule}\n{problem}"))
        })
        .collect();
    assert!(failures.is_empty(), "{} problems:\n\n{}", failures.len(), failures.join("\n\n"));
}
