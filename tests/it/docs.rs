//! The documentation in the repository: relative links resolve, the README stays short,
//! the configuration table lists exactly the configuration keys, and no file points
//! outside the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, docs/*.md, bench/README.md and demo/README.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("bench/README.md"),
        root().join("demo/README.md"),
    ];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    assert!(!pages.is_empty(), "docs/ holds no pages");
    pages.sort();
    files.extend(pages);
    files
}

/// The targets of markdown links `[text](target)`, outside code blocks and code spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop code spans: every other backtick-separated piece is code.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find([')', ' ']).unwrap_or(after.len());
            if rest[..at].contains('[') {
                targets.push(after[..end].to_string());
            }
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).expect("read doc");
        let dir = file.parent().expect("parent");
        for target in link_targets(&text) {
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|p| target.starts_with(p));
            if external || target.is_empty() {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            checked += 1;
            if !linked.exists() {
                broken.push(format!("{}: {target}", file.display()));
            } else if !anchor.is_empty()
                && linked.extension().is_some_and(|x| x == "md")
                && !heading_anchors(&std::fs::read_to_string(&linked).expect("read"))
                    .contains(anchor)
            {
                broken.push(format!("{}: {target} (no such heading)", file.display()));
            }
        }
    }
    assert!(checked > 20, "only {checked} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The anchors GitHub gives a markdown file's headings: lower case, punctuation dropped
/// (but `-` and `_`), spaces to hyphens.
fn heading_anchors(text: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.insert(anchor);
    }
    anchors
}

#[test]
fn heading_anchors_follow_githubs_rule() {
    let anchors = heading_anchors(
        "# Getting started\n## What revocation reaches\n### `serve --dev`: the dev server\n```\n# not a heading\n```",
    );
    assert!(anchors.contains("getting-started"));
    assert!(anchors.contains("what-revocation-reaches"));
    assert!(anchors.contains("serve---dev-the-dev-server"));
    assert!(!anchors.contains("not-a-heading"));
}

#[test]
fn link_targets_skip_code_and_keep_anchors() {
    let text = "See [a](docs/a.md#x) and `[b](no.md)`.\n```\n[c](no.md)\n```\n[d](https://x.test)";
    assert_eq!(
        link_targets(text),
        vec!["docs/a.md#x".to_string(), "https://x.test".to_string()]
    );
}

#[test]
fn the_readme_stays_short() {
    let len = std::fs::metadata(root().join("README.md"))
        .expect("README.md")
        .len();
    assert!(
        len <= 8_500,
        "README.md is {len} bytes; move detail into docs/"
    );
}

/// Every row of the table in docs/configuration.md names a key of `config::KEYS` with its
/// environment variable, and every key has a row.
#[test]
fn the_configuration_table_lists_exactly_the_configuration_keys() {
    let text = std::fs::read_to_string(root().join("docs/configuration.md")).expect("read");
    let documented: BTreeSet<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].trim_matches('`').to_string(),
            )
        })
        .collect();
    let known: BTreeSet<(String, String)> = portcullis::config::KEYS
        .iter()
        .map(|(k, e)| (k.to_string(), e.to_string()))
        .collect();
    let missing: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/configuration.md: missing {missing:?}, unknown {unknown:?}"
    );
}

/// Files of the repository: `git ls-files` when git answers, else a walk of the tree.
fn repository_files() -> Vec<PathBuf> {
    let listed = std::process::Command::new("git")
        .arg("-C")
        .arg(root())
        .args(["ls-files", "-z"])
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    if let Some(out) = listed {
        return out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root().join(String::from_utf8_lossy(p).as_ref()))
            .collect();
    }
    let mut files = Vec::new();
    let mut dirs = vec![root().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !matches!(
                    name.to_str(),
                    Some("target" | "node_modules" | ".git" | ".venv")
                ) {
                    dirs.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn no_file_refers_outside_the_repository() {
    // Built so that this file does not name it literally.
    let needle = concat!("..", "/shared");
    let files = repository_files();
    assert!(files.len() > 50, "only {} files found", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| {
            !p.components()
                .any(|c| matches!(c.as_os_str().to_str(), Some("target" | "node_modules")))
        })
        // Binary and missing files read as errors and are skipped.
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)))
        .map(|p| p.strip_prefix(root()).unwrap_or(p).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files that mention {needle}: {offenders:?}"
    );
}
