//! The components of the service layer and their one-way dependencies, checked on the code: a
//! component calls the operations (`impl Services` methods) of the components below it only.
//! ARCHITECTURE.md has the same table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each component, the files that hold its operations, and the components it may call.
const COMPONENTS: &[(&str, &[&str], &[&str])] = &[
    ("base", &["service.rs"], &[]),
    ("read models", &["context.rs", "cache.rs"], &["base"]),
    ("committer", &["commit.rs"], &[]),
    ("authorization", &["authz.rs"], &["read models", "base"]),
    ("after-commit", &["after_commit.rs"], &["committer", "authorization", "read models", "base"]),
    ("connected organizations", &["organizations.rs"], &["authorization", "read models", "base"]),
    (
        "guests",
        &["guests.rs"],
        &["connected organizations", "after-commit", "authorization", "read models", "base"],
    ),
    (
        "request lifecycle",
        &["requests.rs"],
        &["guests", "connected organizations", "after-commit", "authorization", "read models", "base"],
    ),
    (
        "auto-assignment",
        &["auto.rs"],
        &["request lifecycle", "after-commit", "authorization", "read models", "base"],
    ),
    ("access reviews", &["reviews.rs"], &["request lifecycle", "authorization", "read models", "base"]),
    ("custom extensions", &["extensions.rs"], &["request lifecycle", "authorization", "read models", "base"]),
    ("notifications", &["notifications.rs"], &["read models", "base"]),
    ("read path", &["queries.rs"], &["guests", "authorization", "read models", "base"]),
    (
        "administration",
        &["catalogs.rs", "policies.rs", "directory.rs", "roles.rs"],
        &[
            "read path",
            "auto-assignment",
            "request lifecycle",
            "access reviews",
            "custom extensions",
            "guests",
            "connected organizations",
            "authorization",
            "read models",
            "base",
        ],
    ),
    (
        "replicas",
        &["replicas.rs"],
        &["auto-assignment", "connected organizations", "authorization", "read models", "base"],
    ),
    (
        "timers",
        &["timers.rs"],
        &[
            "auto-assignment",
            "request lifecycle",
            "access reviews",
            "guests",
            "authorization",
            "read models",
            "base",
        ],
    ),
];

/// The code of a file without its tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("#[cfg(test)]").next().unwrap_or_default().to_owned()
}

/// The methods a file defines in its `impl Services` blocks.
fn operations(code: &str) -> BTreeSet<String> {
    let mut inside = false;
    let mut out = BTreeSet::new();
    for line in code.lines() {
        if line.starts_with("impl Services {") {
            inside = true;
        } else if line == "}" {
            inside = false;
        } else if inside && line.starts_with("    ") && !line.starts_with("     ") {
            let rest = line.trim_start();
            let rest = rest.strip_prefix("pub(crate) ").or_else(|| rest.strip_prefix("pub ")).unwrap_or(rest);
            let rest = rest.strip_prefix("async ").unwrap_or(rest);
            if let Some(name) = rest.strip_prefix("fn ") {
                let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.insert(name);
            }
        }
    }
    out
}

/// The methods called on `self` in a file.
fn calls(code: &str) -> BTreeSet<String> {
    code.match_indices("self.")
        .filter_map(|(at, _)| {
            let rest = &code[at + 5..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            rest[name.len()..].starts_with('(').then_some(name)
        })
        .collect()
}

#[test]
fn components_call_only_the_components_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let path = |file: &str| {
        if file == "service.rs" { src.join(file) } else { src.join("service").join(file) }
    };
    let component_of: BTreeMap<&str, &str> =
        COMPONENTS.iter().flat_map(|(name, files, _)| files.iter().map(move |f| (*f, *name))).collect();
    let listed: BTreeSet<String> = std::fs::read_dir(src.join("service"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != "architecture.rs")
        .collect();
    let known: BTreeSet<String> = component_of.keys().map(|f| (*f).to_owned()).collect();
    let unlisted: Vec<&String> = listed.iter().filter(|f| !known.contains(*f)).collect();
    assert!(unlisted.is_empty(), "every file of `service/` belongs to a component: {unlisted:?}");

    let mut defined_in: BTreeMap<String, &str> = BTreeMap::new();
    for file in component_of.keys() {
        for op in operations(&code(&path(file))) {
            if let Some(other) = defined_in.insert(op.clone(), file) {
                panic!("`{op}` is defined in both {other} and {file}");
            }
        }
    }
    assert!(defined_in.len() > 100, "the operations were found ({})", defined_in.len());

    let mut wrong = Vec::new();
    for (file, component) in &component_of {
        let allowed = COMPONENTS.iter().find(|(name, _, _)| name == component).map(|(_, _, deps)| *deps);
        for call in calls(&code(&path(file))) {
            let Some(owner) = defined_in.get(&call) else { continue };
            let callee = component_of[owner];
            if callee != *component && !allowed.is_some_and(|deps| deps.contains(&callee)) {
                wrong.push(format!("{file} ({component}) calls `{call}` of {owner} ({callee})"));
            }
        }
    }
    assert!(wrong.is_empty(), "calls against the direction of the components:\n{}", wrong.join("\n"));
}
