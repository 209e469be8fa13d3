//! Every relative link in the repository's committed Markdown files points at a file
//! or folder that exists. results/ is kept to a budget (results/README.md, "What is
//! not committed"): a link into something pruned fails here, in CI, rather than on a
//! reader's screen.
//!
//! What counts as a link: inline links and images (`[text](target)`, `![alt](target)`,
//! `<target>` in angle brackets, an optional title) and reference definitions
//! (`[label]: target`). Text in fenced code blocks and code spans is not a link.
//! External targets (any `scheme:`) and in-page anchors (`#...`) are not checked; a
//! `#fragment` or `?query` after a path is dropped and the path checked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The top of the checkout.
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files git tracks, relative to `top`.
fn committed_markdown(top: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .current_dir(top)
        .args(["ls-files", "-z", "--", "*.md"])
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
        .collect()
}

/// `line` with its code spans blanked (a run of N backticks up to the next run of
/// exactly N); an unmatched run stays as it is.
fn without_code_spans(line: &str) -> String {
    let bytes = line.as_bytes();
    let (mut out, mut i) = (String::new(), 0);
    while i < bytes.len() {
        if bytes[i] != b'`' {
            let next = line[i..].find('`').map_or(line.len(), |n| i + n);
            out.push_str(&line[i..next]);
            i = next;
            continue;
        }
        let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
        let fence = "`".repeat(run);
        let mut from = i + run;
        let close = loop {
            match line[from..].find(&fence) {
                None => break None,
                Some(n) => {
                    let at = from + n;
                    let longer = bytes.get(at + run) == Some(&b'`');
                    if !longer {
                        break Some(at);
                    }
                    from = at + bytes[at..].iter().take_while(|b| **b == b'`').count();
                }
            }
        };
        match close {
            Some(at) => i = at + run,
            None => {
                out.push_str(&fence);
                i += run;
            }
        }
    }
    out
}

/// The target that starts `rest` (just after `](` or `]:`): `<...>`, or up to
/// whitespace or the `)` that closes the link (parentheses inside may nest).
fn target_at(rest: &str) -> &str {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        return inner.find('>').map_or(inner, |end| &inner[..end]);
    }
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &rest[..i],
            ')' => depth -= 1,
            c if c.is_whitespace() => return &rest[..i],
            _ => {}
        }
    }
    rest
}

/// Every link target in a Markdown document, in order.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let line = without_code_spans(line);
        let trimmed = line.trim_start();
        if let (true, Some(end)) = (trimmed.starts_with('['), trimmed.find("]:")) {
            targets.push(target_at(&trimmed[end + 2..]).to_string());
            continue;
        }
        let mut from = 0;
        while let Some(n) = line[from..].find("](") {
            let start = from + n + 2;
            targets.push(target_at(&line[start..]).to_string());
            from = start;
        }
    }
    targets
}

/// The local path a target names, or None for an external link or an anchor.
fn local_path(target: &str) -> Option<String> {
    let scheme = target.split_once(':').is_some_and(|(s, _)| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    let path = target.split(['#', '?']).next().unwrap_or_default();
    (!scheme && !path.is_empty()).then(|| path.replace("%20", " "))
}

/// The links checked in `files` (relative to `top`) and, of them, those whose
/// target does not exist, as `file: target`.
fn check(top: &Path, files: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let (mut checked, mut broken) = (Vec::new(), Vec::new());
    for file in files {
        let Ok(text) = std::fs::read_to_string(top.join(file)) else { continue };
        let dir = file.parent().unwrap_or(Path::new(""));
        for target in link_targets(&text) {
            let Some(path) = local_path(&target) else { continue };
            let resolved = match path.strip_prefix('/') {
                Some(from_top) => PathBuf::from(from_top),
                None => dir.join(&path),
            };
            if !top.join(&resolved).exists() {
                broken.push(format!("{}: {target}", file.display()));
            }
            checked.push(resolved);
        }
    }
    (checked, broken)
}

/// Every relative link and image in every committed Markdown file (README.md,
/// results/README.md, the reports under results/, ...) resolves to a file that exists.
#[test]
fn every_relative_link_in_committed_markdown_resolves() {
    let top = top();
    let files = committed_markdown(&top);
    for must in ["README.md", "results/README.md"] {
        assert!(files.iter().any(|f| f == Path::new(must)), "{must} is not among {files:?}");
    }
    let (checked, broken) = check(&top, &files);
    let into_results = checked.iter().filter(|p| p.starts_with("results")).count();
    assert!(into_results >= 10, "only {into_results} links into results/ found: {checked:?}");
    assert!(broken.is_empty(), "{} broken link(s):\n{}", broken.len(), broken.join("\n"));
}

/// A link or image to a missing file and a reference definition to one are reported;
/// existing targets (with a fragment, in angle brackets, folders), code spans, fenced
/// code, external links and anchors are not.
#[test]
fn a_broken_link_is_reported_and_code_is_not_a_link() {
    let top = std::env::temp_dir().join(format!("loadgen-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&top);
    std::fs::create_dir_all(top.join("docs/pics")).expect("temp dir");
    for file in ["docs/b.md", "docs/pics/p.svg", "docs/with space.md", "top.md"] {
        std::fs::write(top.join(file), "x").expect("write");
    }
    let doc = "# a\n\
        [ok](b.md) and ![pic](pics/p.svg \"title\") and [part](b.md#part), [dir](pics/)\n\
        [angle](<with space.md>) [up](../top.md) [root](/docs/b.md) [enc](with%20space.md)\n\
        [gone](missing.svg) `[in code](nope1.md)` ``a ` b [x](nope2.md)``\n\
        ```\n[fenced](nope3.md)\n```\n\
        [web](https://example.com/nope4.md) [mail](mailto:a@b.c) [anchor](#top)\n\
        ![gone picture](pics/gone.png)\n\
        [ref]: gone-ref.md\n";
    std::fs::write(top.join("docs/a.md"), doc).expect("write");
    let (checked, broken) = check(&top, &[PathBuf::from("docs/a.md")]);
    let _ = std::fs::remove_dir_all(&top);
    assert_eq!(
        broken,
        ["docs/a.md: missing.svg", "docs/a.md: pics/gone.png", "docs/a.md: gone-ref.md"]
    );
    assert_eq!(checked.len(), 11, "{checked:?}");
}
