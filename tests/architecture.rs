//! The layering of ARCHITECTURE.md, checked: a module that imports across a forbidden edge fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first. A module may import its own layer and the
/// layers listed as allowed for it; tests inside a module are not counted.
const VOCABULARY: &[&str] = &[
    "change", "cancel", "text", "group", "hosts", "secret", "trust", "fanout", "shard",
];
const SEAMS: &[&str] = &["transport", "journal"];
const POLICY: &[&str] = &["retry"];
const ENGINE: &[&str] = &["engine"];
/// The binary's own modules: the command-line face, not the library's API.
const FACE: &[&str] = &[
    "app", "cli", "config", "output", "exit", "signals", "logging", "metrics", "wire", "journals",
];
/// The library's top error type, gathering the layers' own.
const ERRORS: &[&str] = &["error"];
/// Built only for tests (the simulated cluster, the campaigns, and the
/// binary's world, exhaustive search and manifest checks).
const TEST_ONLY: &[&str] = &["sim", "campaign", "world", "exhaustive", "manifests"];

/// What each layer may import, besides the vocabulary.
fn allowed(module: &str) -> Option<BTreeSet<&'static str>> {
    let mut allowed: BTreeSet<&str> = VOCABULARY.iter().copied().collect();
    if VOCABULARY.contains(&module) {
        // Note: group ids, hosts and the token file report bad input with
        // the shared InputError.
        allowed.insert("error");
    } else if SEAMS.contains(&module) {
        // Note: the transport and the journal never import each other.
    } else if POLICY.contains(&module) {
        allowed.insert("transport");
    } else if ENGINE.contains(&module) {
        allowed.extend(SEAMS);
        allowed.extend(POLICY);
    } else if FACE.contains(&module) || ERRORS.contains(&module) || TEST_ONLY.contains(&module) {
        return None;
    } else {
        panic!("src/{module}.rs is in no layer: add it to ARCHITECTURE.md and this test");
    }
    Some(allowed)
}

/// The `crate::<module>` paths a file uses outside its `mod tests`.
fn imports(source: &str) -> BTreeSet<String> {
    let code = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// Every source file with the top-level module it belongs to: `src/x.rs`
/// and every file under `src/x/` are module `x`.
fn modules(src: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(src).expect("src/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).expect("module dir") {
                let inner = inner.expect("entry").path();
                // Note: `tests.rs` is a module's `mod tests`, built only for tests.
                let is_tests = inner.file_stem().is_some_and(|n| n == "tests");
                if inner.extension().is_some_and(|e| e == "rs") && !is_tests {
                    found.push((name.clone(), inner));
                }
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push((name, path));
        }
    }
    found
}

#[test]
fn no_module_imports_across_a_forbidden_edge() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = 0;
    for (module, path) in modules(&src) {
        if module == "lib" || module == "main" {
            continue;
        }
        seen += 1;
        let Some(allowed) = allowed(&module) else {
            continue;
        };
        let source = std::fs::read_to_string(&path).expect("read");
        for import in imports(&source) {
            if import != module && !allowed.contains(import.as_str()) {
                broken.entry(module.clone()).or_default().push(import);
            }
        }
    }
    assert!(seen > 30, "read only {seen} files");
    assert!(
        broken.is_empty(),
        "forbidden imports (module: what it imports); see ARCHITECTURE.md: {broken:?}"
    );
}

#[test]
fn the_check_sees_a_forbidden_edge() {
    let journal_importing_transport = "use crate::change::Action;\nuse crate::transport::Reply;\n";
    let found = imports(journal_importing_transport);
    let allowed = allowed("journal").expect("journal is layered");
    assert!(found.contains("transport"));
    assert!(!allowed.contains("transport"));
    assert!(
        !imports("#[cfg(test)]\nmod tests {\n    use crate::sim::SimCluster;\n}\n").contains("sim"),
        "test modules are not counted"
    );
}

/// The `mod` declarations of a crate root, `pub` or not.
fn declared(root: &str) -> BTreeSet<String> {
    root.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').trim().to_owned())
        })
        .collect()
}

#[test]
fn the_command_line_face_is_the_binarys_not_the_librarys_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let library = declared(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let binary = declared(&std::fs::read_to_string(src.join("main.rs")).expect("main.rs"));
    for module in FACE {
        assert!(
            !library.contains(*module),
            "lib.rs declares the face module {module}"
        );
        assert!(
            binary.contains(*module),
            "main.rs does not declare {module}"
        );
    }
    for module in ["engine", "journal", "transport", "retry", "change"] {
        assert!(library.contains(module), "lib.rs lacks {module}");
        assert!(!binary.contains(module), "main.rs re-declares {module}");
    }
}
