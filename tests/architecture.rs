//! The map of ARCHITECTURE.md, checked: the folders `ls src` shows, the library's layers, the
//! binary's one-way flow, and the size of every shipping file and function. A module that
//! imports across a forbidden edge, a circle among the binary's modules, a new top-level part
//! the map does not name, or a file or function that outgrows its room fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What `ls src` shows: a folder per part, and the few single-file parts.
const FOLDERS: &[&str] = &["cli", "engine", "journal", "sim", "transport", "vocab"];
const FILES: &[&str] = &["error.rs", "lib.rs", "main.rs", "retry.rs"];

/// The library's layers, bottom first. A module may import its own layer and the layers listed
/// as allowed for it; tests inside a module are not counted.
const VOCABULARY: &str = "vocab";
const SEAMS: &[&str] = &["transport", "journal"];
const POLICY: &str = "retry";
const ENGINE: &str = "engine";
/// The library's top error type, gathering the layers' own.
const ERRORS: &str = "error";
/// Built only for tests: the simulated cluster, the campaigns, and the binary's worlds.
const TEST_ONLY: &str = "sim";

/// The binary's modules (`src/cli/`) in the order the face reads: each may import only modules
/// before it. Arguments, then the configuration, then what a run reports (journals, exit
/// status, signals, logging, metrics), then its rendering, then the invocation that ties
/// them together.
const FACE_ORDER: &[&str] = &[
    "args",
    "argv",
    "credentials",
    "config",
    "manual",
    "journals",
    "exit",
    "signals",
    "logging",
    "progress",
    "metrics",
    "words",
    "wire",
    "wire_journal",
    "output",
    "tables",
    "views",
    "inspect",
    "app",
];

/// Longest shipping source file (tests excluded) and longest shipping function, in lines.
const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 60;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// What each library layer may import, besides the vocabulary; `None` for a part that is not
/// layered (the error type, the test worlds).
fn allowed(part: &str) -> Option<BTreeSet<&'static str>> {
    let mut allowed = BTreeSet::from([VOCABULARY]);
    match part {
        // Note: group ids, hosts and the token file report bad input with the shared
        // InputError.
        VOCABULARY => {
            allowed.insert(ERRORS);
        }
        // Note: the transport and the journal never import each other.
        "transport" | "journal" => {}
        POLICY => {
            allowed.insert("transport");
        }
        ENGINE => {
            allowed.extend(SEAMS);
            allowed.insert(POLICY);
        }
        ERRORS | TEST_ONLY => return None,
        other => panic!("src/{other} is in no layer: add it to ARCHITECTURE.md and this test"),
    }
    Some(allowed)
}

/// The source without its `#[cfg(test)] mod tests` block, when it ends with one.
fn shipping(source: &str) -> &str {
    match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    }
}

/// The names that follow `prefix` (such as `crate::` or `crate::cli::`) in shipping code.
fn imports(source: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = shipping(source);
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The top-level part a file of `src/` belongs to: `src/x.rs` and everything under `src/x/`
/// are part `x`.
fn part_of(path: &Path) -> String {
    let relative = path.strip_prefix(src()).expect("under src/");
    let first = relative.components().next().expect("a component");
    Path::new(first.as_os_str())
        .file_stem()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

/// Whether a file is built only for tests: the test worlds, and a module's `tests.rs`.
fn test_only(path: &Path) -> bool {
    part_of(path) == TEST_ONLY || path.file_stem().is_some_and(|n| n == "tests")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn ls_src_shows_one_folder_per_part_and_nothing_else() {
    let mut folders = BTreeSet::new();
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(src()).expect("src/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            folders.insert(name);
        } else {
            files.insert(name);
        }
    }
    assert_eq!(
        folders,
        FOLDERS.iter().map(|s| s.to_string()).collect(),
        "src/ folders; a new part needs a line in ARCHITECTURE.md's folder map and here"
    );
    assert_eq!(files, FILES.iter().map(|s| s.to_string()).collect());
    let map = read(&src().join("../ARCHITECTURE.md"));
    for folder in FOLDERS {
        assert!(
            map.contains(&format!("`src/{folder}/`")),
            "ARCHITECTURE.md's folder map lacks `src/{folder}/`"
        );
        let root = read(&src().join(folder).join("mod.rs"));
        assert!(
            root.starts_with("//!"),
            "src/{folder}/mod.rs must open with a //! that says what the part owns"
        );
    }
}

#[test]
fn every_source_file_says_what_it_owns() {
    for path in rust_files(&src()) {
        assert!(
            read(&path).starts_with("//!"),
            "{} has no //! line saying what it owns",
            path.display()
        );
    }
}

#[test]
fn no_library_module_imports_across_a_forbidden_edge() {
    let mut broken: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = 0;
    for path in rust_files(&src()) {
        let part = part_of(&path);
        if ["lib", "main", "cli"].contains(&part.as_str()) || test_only(&path) {
            continue;
        }
        seen += 1;
        let Some(allowed) = allowed(&part) else {
            continue;
        };
        for import in imports(&read(&path), "crate::") {
            if import != part && !allowed.contains(import.as_str()) {
                let file = path.strip_prefix(src()).expect("src").display().to_string();
                broken.entry(file).or_default().insert(import);
            }
        }
    }
    assert!(seen > 35, "read only {seen} files");
    assert!(
        broken.is_empty(),
        "forbidden imports (file: what it imports); see ARCHITECTURE.md: {broken:?}"
    );
}

/// A circle in `graph`, as the path around it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Which of the binary's modules each one imports (`crate::cli::<module>`), outside tests.
fn face_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for path in rust_files(&src().join("cli")) {
        let module = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if module == "mod" {
            continue;
        }
        let mut uses = imports(&read(&path), "crate::cli::");
        uses.remove(&module);
        graph.insert(module, uses);
    }
    graph
}

#[test]
fn the_binarys_modules_form_no_circle_and_read_top_down() {
    let graph = face_graph();
    assert!(
        graph.len() >= 10,
        "read only {} modules of src/cli/",
        graph.len()
    );
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "the binary's modules import each other in a circle: {}",
            circle.join(" → ")
        );
    }
    assert_eq!(
        graph.keys().cloned().collect::<BTreeSet<_>>(),
        FACE_ORDER.iter().map(|s| s.to_string()).collect(),
        "every module of src/cli/ has a place in FACE_ORDER and ARCHITECTURE.md"
    );
    for (module, uses) in &graph {
        let rank = |m: &str| FACE_ORDER.iter().position(|x| *x == m);
        for used in uses {
            assert!(
                rank(used) < rank(module),
                "src/cli/{module}.rs imports {used}, which comes after it in the face's flow \
                 (ARCHITECTURE.md)"
            );
        }
    }
    assert!(
        graph["args"].is_empty(),
        "the argument types import {:?}",
        graph["args"]
    );
    assert!(!graph["wire"].contains("output"), "wire imports output");
}

#[test]
fn the_checks_see_a_forbidden_edge_and_a_circle() {
    let journal_importing_transport =
        "use crate::vocab::change::Action;\nuse crate::transport::Reply;\n";
    let found = imports(journal_importing_transport, "crate::");
    assert!(found.contains("transport"));
    assert!(!allowed("journal").expect("layered").contains("transport"));
    assert!(
        !imports(
            "#[cfg(test)]\nmod tests {\n    use crate::sim::SimCluster;\n}\n",
            "crate::"
        )
        .contains("sim"),
        "test modules are not counted"
    );
    let edges = |pairs: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in pairs {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            graph.entry(to.to_string()).or_default();
        }
        graph
    };
    let circle = find_circle(&edges(&[
        ("cli", "exit"),
        ("exit", "journals"),
        ("journals", "cli"),
    ]));
    assert_eq!(
        circle.expect("a circle").join(" → "),
        "cli → exit → journals → cli"
    );
    assert_eq!(
        find_circle(&edges(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
}

#[test]
fn the_face_is_the_binarys_and_main_is_thin() {
    let library = read(&src().join("lib.rs"));
    let main = read(&src().join("main.rs"));
    assert!(
        !library.contains("mod cli"),
        "lib.rs declares the binary's face"
    );
    let declared: Vec<&str> = main
        .lines()
        .filter(|l| l.trim_start().starts_with("mod ") || l.trim_start().starts_with("pub mod "))
        .collect();
    assert_eq!(declared, ["mod cli;"], "main.rs declares only the face");
    assert!(
        main.lines().count() <= 15,
        "main.rs is {} lines",
        main.lines().count()
    );
    for part in ["engine", "journal", "transport", "retry", "vocab", "error"] {
        assert!(
            library.contains(&format!("pub mod {part};")),
            "lib.rs lacks {part}"
        );
    }
    assert!(
        library.contains("#[cfg(any(test, feature = \"sim\"))]\n#[doc(hidden)]\npub mod sim;"),
        "the test worlds are built only for tests"
    );
    let face = read(&src().join("cli/mod.rs"));
    for world in ["world", "exhaustive", "manifests"] {
        assert!(
            face.contains(&format!(
                "#[cfg(test)]\n#[path = \"../sim/{world}.rs\"]\nmod {world};"
            )),
            "src/sim/{world}.rs is declared only for the binary's tests"
        );
    }
}

/// The source with comments, strings and char literals blanked (newlines kept), so that braces
/// inside them are not counted.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |text: &[u8], out: &mut String| {
        out.extend(text.iter().filter(|b| **b == b'\n').map(|_| '\n'));
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            find(rest, b"*/").map_or(rest.len(), |at| at + 2)
        } else if let Some(len) = raw_string(rest, i > 0 && is_ident(bytes[i - 1])) {
            len
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        } else if let Some(len) = char_literal(rest) {
            len
        } else {
            out.push(rest[0] as char);
            i += 1;
            continue;
        };
        blank(&rest[..end.min(rest.len())], &mut out);
        i += end;
    }
    out
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of a raw string literal (`r"..."`, `r#"..."#`) at the start of `rest`.
fn raw_string(rest: &[u8], after_ident: bool) -> Option<usize> {
    if after_ident || rest.first() != Some(&b'r') {
        return None;
    }
    let hashes = rest[1..].iter().take_while(|b| **b == b'#').count();
    if rest.get(1 + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = 2 + hashes;
    find(&rest[body..], &close).map(|at| body + at + close.len())
}

/// The length of a char literal (`'a'`, `'\n'`, `'\u{1F600}'`) at the start of `rest`; `None`
/// for a lifetime.
fn char_literal(rest: &[u8]) -> Option<usize> {
    if rest.first() != Some(&b'\'') {
        return None;
    }
    if rest.get(1) == Some(&b'\\') {
        return rest[2..].iter().position(|b| *b == b'\'').map(|at| at + 3);
    }
    let width = std::str::from_utf8(&rest[1..rest.len().min(5)])
        .or_else(|e| std::str::from_utf8(&rest[1..1 + e.valid_up_to()]))
        .ok()?
        .chars()
        .next()?
        .len_utf8();
    (rest.get(1 + width) == Some(&b'\'')).then_some(width + 2)
}

/// Every function with a body in `source`: its name, first line and length in lines.
fn functions(source: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(source);
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("fn ").map(|at| at + from) {
        from = at + 3;
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue;
        }
        let name: String = code[from..]
            .chars()
            .take_while(|c| is_ident(*c as u8))
            .collect();
        let Some(open) = code[from..].find(['{', ';']).map(|o| o + from) else {
            break;
        };
        if code.as_bytes()[open] == b';' {
            continue;
        }
        let mut depth = 0;
        let close = code[open..]
            .char_indices()
            .find(|(_, c)| {
                depth += match c {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(code.len(), |(i, _)| i + open);
        found.push((name, line_of(at), line_of(close) - line_of(at) + 1));
    }
    found
}

#[test]
fn no_shipping_file_or_function_outgrows_its_room() {
    let mut too_long = Vec::new();
    let mut checked = 0;
    for path in rust_files(&src()).into_iter().filter(|p| !test_only(p)) {
        let source = read(&path);
        let shipped = shipping(&source);
        let file = path.strip_prefix(src()).expect("src").display().to_string();
        let lines = shipped.lines().count();
        if lines > MAX_FILE_LINES {
            too_long.push(format!("src/{file}: {lines} lines"));
        }
        for (name, line, length) in functions(shipped) {
            checked += 1;
            if length > MAX_FN_LINES {
                too_long.push(format!("src/{file}:{line}: fn {name} is {length} lines"));
            }
        }
    }
    assert!(checked > 300, "found only {checked} functions");
    assert!(
        too_long.is_empty(),
        "files over {MAX_FILE_LINES} or functions over {MAX_FN_LINES} lines: {too_long:#?}"
    );
}

#[test]
fn the_size_check_counts_bodies_not_braces_in_text() {
    let source = "fn short() {\n    let s = \"}}}\";\n    let c = '}';\n    // }\n}\n\
                  fn long<'a>(x: &'a str) -> &'a str {\n    let r = r#\"{\"#;\n"
        .to_owned()
        + &"    x;\n".repeat(70)
        + "    x\n}\nfn declared();\n";
    let found = functions(&source);
    assert_eq!(found[0], ("short".to_owned(), 1, 5));
    assert_eq!(found[1], ("long".to_owned(), 6, 74));
    assert_eq!(
        found.len(),
        2,
        "a declaration without a body is not a function body"
    );
}
