//! The README's promises: short, the two commands of a fresh clone, the exit table of `--help`, and no broken link in it or docs/.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::TestEnv;

/// The longest the README may grow: a page for users, not a manual.
const MAX_README_LINES: usize = 300;

/// The commands of a fresh clone, in order, as the README shows them.
const FRESH_CLONE: [&str; 2] = ["cargo run --example demo", "cargo test --workspace"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every `docs/*.md`.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root().join("README.md"));
    docs
}

/// The lines of `text` outside fenced code blocks, with their line numbers (from 1).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// The lines of the section under `## {heading}`, up to the next `## `.
fn section<'t>(text: &'t str, heading: &str) -> Vec<&'t str> {
    let title = format!("## {heading}");
    let mut lines = text.lines().skip_while(|line| line.trim_end() != title);
    assert!(lines.next().is_some(), "no {title:?} heading");
    lines.take_while(|line| !line.starts_with("## ")).collect()
}

/// The lines of the first fenced code block in `lines`.
fn first_code_block<'t>(lines: &[&'t str]) -> Vec<&'t str> {
    let mut inside = lines
        .iter()
        .skip_while(|line| !line.starts_with("```"))
        .skip(1);
    inside
        .by_ref()
        .take_while(|line| !line.starts_with("```"))
        .copied()
        .collect()
}

/// `text` without its inline code spans, which hold no links.
fn without_code_spans(text: &str) -> String {
    text.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// The targets of the inline links `[text](target)` of one line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        targets.push(after[..end].trim().to_owned());
        rest = &after[end..];
    }
    targets
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped,
/// spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of every heading of a Markdown file, repeats numbered as GitHub numbers them.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for (_, line) in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let base = slug(heading.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

/// Every broken relative link of the document at `path`, as `file:line: target (why)`.
fn broken_links(path: &Path) -> Vec<String> {
    let text = read(path);
    let dir = path.parent().expect("a file in a directory");
    let shown = path.strip_prefix(root()).unwrap_or(path).display();
    let mut broken = Vec::new();
    for (number, line) in prose(&text) {
        for target in link_targets(line) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if file.is_empty() {
                path.to_path_buf()
            } else {
                dir.join(file)
            };
            let why = if !linked.exists() {
                Some("no such file")
            } else if let Some(anchor) =
                anchor.filter(|_| linked.extension().is_some_and(|e| e == "md"))
            {
                (!anchors(&read(&linked)).contains(anchor)).then_some("no such heading")
            } else {
                None
            };
            if let Some(why) = why {
                broken.push(format!("{shown}:{number}: {target} ({why})"));
            }
        }
    }
    broken
}

/// The codes of the exit table in the `## Exit status` section of the README: rows `| **N** | ... |`.
fn readme_exit_codes(readme: &str) -> Vec<u8> {
    section(readme, "Exit status")
        .iter()
        .filter_map(|line| {
            let code = line.strip_prefix("| **")?.split_once("**")?.0;
            Some(
                code.parse()
                    .unwrap_or_else(|_| panic!("exit code {code:?}")),
            )
        })
        .collect()
}

/// The codes of the `Exit status:` table at the end of `--help`: lines `  N  meaning`.
fn help_exit_codes(help: &str) -> Vec<u8> {
    help.lines()
        .skip_while(|line| !line.starts_with("Exit status:"))
        .filter_map(|line| {
            let (code, _) = line.strip_prefix("  ")?.split_once("  ")?;
            code.parse().ok()
        })
        .collect()
}

#[test]
fn the_readme_is_at_most_300_lines() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= MAX_README_LINES,
        "README.md has {lines} lines; move details to docs/ (at most {MAX_README_LINES})"
    );
}

#[test]
fn the_readme_shows_the_two_commands_of_a_fresh_clone_and_ci_runs_the_same_tests() {
    let readme = read(&root().join("README.md"));
    let block = first_code_block(&section(&readme, "From a fresh clone"));
    assert_eq!(block, FRESH_CLONE, "the README's fresh-clone commands");

    // .ci/run's test step runs exactly the README's command.
    let ci = read(&root().join(".ci/run"));
    let mut lines = ci
        .lines()
        .skip_while(|line| !line.contains("(the README's command)"));
    assert!(
        lines.next().is_some(),
        ".ci/run has no step \"(the README's command)\""
    );
    let command = lines.map(str::trim).find(|line| !line.is_empty());
    assert_eq!(command, Some(FRESH_CLONE[1]), ".ci/run's test step");
}

#[test]
fn every_relative_link_of_the_readme_and_docs_points_at_a_file_and_heading_that_exist() {
    let documents = documents();
    assert!(documents.len() > 1, "docs/*.md: {documents:?}");
    let broken: Vec<String> = documents.iter().flat_map(|doc| broken_links(doc)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_sees_a_broken_file_or_heading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "# A page\n\n## Its part: `x`\n\n[ok](page.md) [ok](#its-part-x) [web](https://example.com/none)\n\
         `[code](none.md)`\n\n```\n[in a block](none.md)\n```\n\
         [gone](none.md) [lost](page.md#no-part)\n",
    )
    .expect("write page");
    let broken = broken_links(&page);
    let targets: Vec<&str> = broken
        .iter()
        .map(|b| b.split(": ").nth(1).expect("target"))
        .collect();
    assert_eq!(
        targets,
        [
            "none.md (no such file)",
            "page.md#no-part (no such heading)"
        ],
        "{broken:?}"
    );
}

#[test]
fn the_readme_exit_table_lists_the_codes_of_help() {
    let env = TestEnv::new(0);
    let output = env.cmd().arg("--help").output().expect("run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    let from_help = help_exit_codes(&help);
    assert!(!from_help.is_empty(), "no exit table in --help:\n{help}");

    let readme = read(&root().join("README.md"));
    assert_eq!(
        readme_exit_codes(&readme),
        from_help,
        "README's exit table against --help's"
    );
}
