//! `cargo xtask tidy`: the invariants of docs/ARCHITECTURE.md as checks,
//! in the manner of rust-analyzer's tidy. It reads `cargo metadata` and
//! the library crates' sources, lists every violation (the crate, the
//! rule, what breaks it) and fails when there is any:
//!
//! - `dependencies`: a crate depends on one [`DEPENDENCY_RULES`] forbids
//!   it (normal dependencies only: tests may use anything);
//! - `crate-doc`: a library crate's `src/lib.rs` does not open with a
//!   crate-level doc comment (`//!`);
//! - `unwrap`: library code calls `.unwrap()` or `.expect(` outside tests
//!   (`#[cfg(test)]` items, and the files of `#[cfg(test)] mod x;`). A line
//!   that cannot do without one carries `// tidy: allow unwrap: REASON`
//!   (on it or on the line above).
//!
//! `cargo xtask test` runs it first.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::util;
use Crates::{Family, Libraries, Named, Ours};

/// The crates that are not libraries: the top-level artifacts, which run
/// the command line and pick a runtime (the binary, the Python extension),
/// and this automation.
const NOT_LIBRARIES: &[&str] = &["store-cli", "labelstore-py", "xtask"];

/// A set of crates, by name.
#[derive(Debug, Clone, Copy)]
enum Crates {
    /// One crate (ours or a third party's).
    Named(&'static str),
    /// Our crates whose name starts so (`fmt-`, `sink-`).
    Family(&'static str),
    /// Every crate of the workspace.
    Ours,
    /// Every crate of the workspace but [`NOT_LIBRARIES`].
    Libraries,
}

impl Crates {
    fn contains(self, name: &str, workspace: &Workspace) -> bool {
        match self {
            Crates::Named(n) => name == n,
            Crates::Family(prefix) => name.starts_with(prefix) && workspace.has(name),
            Crates::Ours => workspace.has(name),
            Crates::Libraries => workspace.has(name) && !NOT_LIBRARIES.contains(&name),
        }
    }
}

/// Crates that must not depend on others, and the invariant that says so.
#[derive(Debug)]
struct DependencyRule {
    /// The crates the rule is about (a rule about a crate that does not
    /// exist yet checks nothing).
    of: Crates,
    /// What they must not depend on.
    forbidden: &'static [Crates],
    /// The invariant, as docs/ARCHITECTURE.md words it.
    invariant: &'static str,
}

/// The dependency invariants of docs/ARCHITECTURE.md.
const DEPENDENCY_RULES: &[DependencyRule] = &[
    DependencyRule {
        of: Named("labels-model"),
        forbidden: &[
            Family("fmt-"),
            Family("sink-"),
            Named("tokio"),
            Named("tokio-postgres"),
            Named("object_store"),
            Named("reqwest"),
        ],
        invariant: "the model knows no format and no destination",
    },
    DependencyRule {
        of: Family("fmt-"),
        forbidden: &[
            Family("fmt-"),
            Family("sink-"),
            Named("labelstore"),
            Named("tokio"),
        ],
        invariant: "format crates never import each other nor any destination",
    },
    DependencyRule {
        of: Family("sink-"),
        forbidden: &[Family("fmt-"), Named("labels-model")],
        invariant: "destinations know no format and not the model",
    },
    DependencyRule {
        of: Named("sink-api"),
        forbidden: &[Ours],
        invariant: "sink-api depends on no other crate of ours",
    },
    DependencyRule {
        of: Named("pixel-geometry"),
        forbidden: &[Ours],
        invariant: "the geometry leaf crate depends on no crate of ours",
    },
    DependencyRule {
        of: Named("vector-labels"),
        forbidden: &[Family("fmt-"), Family("sink-"), Named("labelstore")],
        invariant: "the vector labels reader knows no format crate and no destination",
    },
    DependencyRule {
        of: Named("scene-chipper"),
        forbidden: &[
            Family("fmt-"),
            Family("sink-"),
            Named("labelstore"),
            Named("tokio"),
        ],
        invariant: "the scene chipper makes projects and never reaches a destination",
    },
    DependencyRule {
        of: Libraries,
        forbidden: &[
            Named("clap"),
            Named("indicatif"),
            Named("anyhow"),
            Named("store-cli"),
        ],
        invariant: "libraries know no CLI",
    },
    DependencyRule {
        of: Libraries,
        forbidden: &[Named("pyo3"), Named("labelstore-py")],
        invariant: "only the Python extension knows Python",
    },
    DependencyRule {
        of: Named("store-cli"),
        forbidden: &[Named("pyo3"), Named("labelstore-py")],
        invariant: "only the Python extension knows Python",
    },
];

/// One crate of the workspace, as `cargo metadata` describes it.
#[derive(Debug)]
struct Crate {
    name: String,
    /// The folder of its Cargo.toml.
    dir: PathBuf,
    /// The root file of its library target, if it has one.
    lib: Option<PathBuf>,
    /// Its normal (not dev, not build) dependencies, by package name.
    dependencies: Vec<String>,
}

/// The workspace's crates.
#[derive(Debug)]
struct Workspace {
    crates: Vec<Crate>,
}

impl Workspace {
    /// The workspace members of `cargo metadata --format-version 1` output.
    fn from_metadata(metadata: &Value) -> anyhow::Result<Workspace> {
        let members: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .context("cargo metadata without workspace_members")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let packages = metadata["packages"]
            .as_array()
            .context("cargo metadata without packages")?;
        let crates = packages
            .iter()
            .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
            .map(Crate::from_package)
            .collect::<anyhow::Result<_>>()?;
        Ok(Workspace { crates })
    }

    fn has(&self, name: &str) -> bool {
        self.crates.iter().any(|c| c.name == name)
    }

    fn libraries(&self) -> impl Iterator<Item = &Crate> {
        self.crates
            .iter()
            .filter(|c| !NOT_LIBRARIES.contains(&c.name.as_str()))
    }
}

impl Crate {
    fn from_package(package: &Value) -> anyhow::Result<Crate> {
        let name = package["name"]
            .as_str()
            .context("a package without a name")?
            .to_owned();
        let manifest = package["manifest_path"]
            .as_str()
            .with_context(|| format!("{name}: no manifest_path"))?;
        let dir = Path::new(manifest)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let is_lib = |t: &&Value| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "lib" || k == "rlib"))
        };
        let lib = package["targets"]
            .as_array()
            .and_then(|targets| targets.iter().find(is_lib))
            .and_then(|t| t["src_path"].as_str())
            .map(PathBuf::from);
        let dependencies = package["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        Ok(Crate {
            name,
            dir,
            lib,
            dependencies,
        })
    }
}

/// One broken rule.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    krate: String,
    rule: &'static str,
    detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {}", self.krate, self.rule, self.detail)
    }
}

/// `cargo xtask tidy`.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    println!("xtask: tidy");
    let out = util::cargo_command()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    let metadata: Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata's output is not JSON")?;
    let workspace = Workspace::from_metadata(&metadata)?;
    let mut violations = check_dependencies(&workspace);
    violations.extend(check_sources(&workspace, root)?);
    violations.extend(check_slim_facade(root)?);
    if violations.is_empty() {
        println!("tidy: {} crates, no violation", workspace.crates.len());
        return Ok(());
    }
    violations.sort();
    for v in &violations {
        println!("tidy: {v}");
    }
    let n = violations.len();
    let plural = if n == 1 { "" } else { "s" };
    bail!("tidy: {n} violation{plural} of docs/ARCHITECTURE.md's rules (listed above)")
}

/// What the facade without its default features (`db`, `objstore`) must
/// not pull in, at any depth: a library user who needs only formats.
const SLIM_FACADE_FORBIDS: &[&str] = &["tokio-postgres", "object_store", "reqwest", "rustls"];

/// The facade built with `--no-default-features`, from `cargo tree`.
fn check_slim_facade(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let out = util::cargo_command()
        .args([
            "tree",
            "-p",
            "labelstore",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(root)
        .output()
        .context("running cargo tree")?;
    ensure!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    Ok(slim_facade_violations(&String::from_utf8_lossy(
        &out.stdout,
    )))
}

/// The forbidden crates in `cargo tree --prefix none` output.
fn slim_facade_violations(tree: &str) -> Vec<Violation> {
    let found: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| SLIM_FACADE_FORBIDS.contains(name))
        .collect();
    found
        .into_iter()
        .map(|name| Violation {
            krate: "labelstore".into(),
            rule: "features",
            detail: format!(
                "--no-default-features still depends on {name}: the db and objstore features \
                 must keep every destination's network stack out"
            ),
        })
        .collect()
}

/// Every forbidden dependency of every crate.
fn check_dependencies(workspace: &Workspace) -> Vec<Violation> {
    let mut violations = Vec::new();
    for krate in &workspace.crates {
        for rule in DEPENDENCY_RULES {
            if !rule.of.contains(&krate.name, workspace) {
                continue;
            }
            for dep in &krate.dependencies {
                if rule.forbidden.iter().any(|f| f.contains(dep, workspace)) {
                    violations.push(Violation {
                        krate: krate.name.clone(),
                        rule: "dependencies",
                        detail: format!("depends on {dep}, but {}", rule.invariant),
                    });
                }
            }
        }
    }
    violations
}

/// The crate docs and the unwraps of every library crate.
fn check_sources(workspace: &Workspace, root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for krate in workspace.libraries() {
        let violation = |rule, detail| Violation {
            krate: krate.name.clone(),
            rule,
            detail,
        };
        match &krate.lib {
            None => violations.push(violation("crate-doc", "no library target".to_owned())),
            Some(lib) => {
                let text = std::fs::read_to_string(lib)
                    .with_context(|| format!("reading {}", lib.display()))?;
                if !has_crate_doc(&text) {
                    let shown = lib.strip_prefix(root).unwrap_or(lib);
                    violations.push(violation(
                        "crate-doc",
                        format!("{} does not open with a `//!` crate doc", shown.display()),
                    ));
                }
            }
        }
        for hit in library_unwraps(&krate.dir.join("src"))? {
            let shown = hit.file.strip_prefix(root).unwrap_or(&hit.file);
            let rule = if hit.what.contains("runtime") {
                "runtime"
            } else {
                "unwrap"
            };
            violations.push(violation(
                rule,
                format!("{}:{}: {}", shown.display(), hit.line, hit.what),
            ));
        }
    }
    Ok(violations)
}

/// Whether a crate root opens (after blank lines) with an inner doc
/// comment.
fn has_crate_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with("//!") || l.starts_with("/*!"))
}

/// An `.unwrap()` or `.expect(` in library code (or a bad allow marker).
#[derive(Debug, PartialEq, Eq)]
struct Hit {
    file: PathBuf,
    /// 1-based.
    line: usize,
    what: String,
}

/// The hits in the `.rs` files under `src`, leaving out the files of
/// `#[cfg(test)] mod x;` (and the modules below them).
fn library_unwraps(src: &Path) -> anyhow::Result<Vec<Hit>> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    files.sort();
    let mut scanned = Vec::new();
    let mut test_modules: Vec<PathBuf> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let scan = scan(&text);
        test_modules.extend(scan.test_modules.iter().map(|m| module_dir(&file).join(m)));
        scanned.push((file, scan.hits));
    }
    let is_test = |file: &Path| {
        test_modules.iter().any(|m| {
            file == m.with_extension("rs") || file.starts_with(m) // m/mod.rs and below
        })
    };
    Ok(scanned
        .into_iter()
        .filter(|(file, _)| !is_test(file))
        .flat_map(|(file, hits)| {
            hits.into_iter().map(move |(line, what)| Hit {
                file: file.clone(),
                line,
                what,
            })
        })
        .collect())
}

/// The `.rs` files under `dir`, at any depth.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The folder where the modules a file declares live: beside `lib.rs`,
/// `main.rs` and `mod.rs`, in `foo/` for `foo.rs`.
fn module_dir(file: &Path) -> PathBuf {
    let parent = file.parent().map(Path::to_path_buf).unwrap_or_default();
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("lib" | "main" | "mod") | None => parent,
        Some(stem) => parent.join(stem),
    }
}

/// What [`scan`] finds in one file.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// (1-based line, what) of each unwrap outside tests.
    hits: Vec<(usize, String)>,
    /// The names of the `#[cfg(test)] mod NAME;` the file declares.
    test_modules: Vec<String>,
}

/// What creates or drives an async runtime; no library may.
const RUNTIME_CALLS: [&str; 4] = [
    "Runtime::new(",
    "runtime::Builder",
    "tokio::main",
    ".block_on(",
];

/// The marker that allows one line an unwrap, followed by `: REASON`.
const ALLOW: &str = "tidy: allow unwrap";

/// The unwraps of one file's code outside `#[cfg(test)]` items, and the
/// test modules it declares.
fn scan(text: &str) -> Scan {
    let code = code_only(text);
    let (tests, test_modules) = cfg_test_items(&code);
    let original: Vec<&str> = text.lines().collect();
    let mut hits = Vec::new();
    for (i, line) in code.lines().enumerate() {
        if tests.contains(&i) {
            continue;
        }
        let calls = [".unwrap()", ".expect("]
            .into_iter()
            .filter(|call| line.contains(call));
        for call in calls {
            let marker = [Some(i), i.checked_sub(1)]
                .into_iter()
                .flatten()
                .filter_map(|j| original.get(j))
                .find_map(|l| l.split_once(ALLOW).map(|(_, after)| after));
            match marker.map(|m| m.trim_start_matches(':').trim()) {
                Some(reason) if !reason.is_empty() => {}
                Some(_) => hits.push((i + 1, format!("`{ALLOW}` without `: REASON`"))),
                None => hits.push((i + 1, format!("`{call}` outside tests"))),
            }
        }
        // Only the binary picks a runtime: a library is driven by the
        // caller's (ARCHITECTURE.md, store-cli's invariant).
        let runtime = RUNTIME_CALLS.iter().filter(|call| line.contains(*call));
        for call in runtime {
            hits.push((
                i + 1,
                format!("`{call}` outside tests: only the binary picks a runtime"),
            ));
        }
    }
    Scan { hits, test_modules }
}

/// `text` with the insides of comments, strings and character literals
/// blanked (line breaks kept), so that what is left is code.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, span: &[char]| {
        out.extend(span.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    while i < chars.len() {
        let end = literal_end(&chars, i);
        if end > i {
            blank(&mut out, &chars[i..end]);
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Where the comment, string or character literal starting at `i` ends
/// (exclusive), or `i` when none starts there.
fn literal_end(chars: &[char], i: usize) -> usize {
    let at = |k: usize| chars.get(k).copied();
    let ident_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    match (at(i), at(i + 1)) {
        (Some('/'), Some('/')) => (i..chars.len())
            .find(|&k| chars[k] == '\n')
            .unwrap_or(chars.len()),
        (Some('/'), Some('*')) => block_comment_end(chars, i),
        (Some('"'), _) => string_end(chars, i + 1),
        (Some('r'), Some('#' | '"')) if !ident_before || raw_prefix(chars, i) => {
            raw_string_end(chars, i + 1).unwrap_or(i)
        }
        // An escape (`'\n'`, `'\''`, `'\u{1F600}'`): up to the first quote
        // after the escaped character.
        (Some('\''), Some('\\')) => (i + 3..chars.len())
            .find(|&k| chars[k] == '\'')
            .map_or(chars.len(), |k| k + 1),
        (Some('\''), Some(_)) if at(i + 2) == Some('\'') => i + 3,
        _ => i,
    }
}

/// Whether the `r` at `i` follows a `b` that starts a raw byte string.
fn raw_prefix(chars: &[char], i: usize) -> bool {
    i > 0
        && chars[i - 1] == 'b'
        && (i < 2 || !(chars[i - 2].is_alphanumeric() || chars[i - 2] == '_'))
}

/// The end of a (nested) block comment starting at `i`.
fn block_comment_end(chars: &[char], i: usize) -> usize {
    let mut depth = 0;
    let mut k = i;
    while k + 1 < chars.len() {
        match (chars[k], chars[k + 1]) {
            ('/', '*') => {
                depth += 1;
                k += 2;
            }
            ('*', '/') => {
                depth -= 1;
                k += 2;
                if depth == 0 {
                    return k;
                }
            }
            _ => k += 1,
        }
    }
    chars.len()
}

/// The end of a string whose contents start at `k` (after the `"`).
fn string_end(chars: &[char], mut k: usize) -> usize {
    while k < chars.len() {
        match chars[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    chars.len()
}

/// The end of a raw string whose `#`s or `"` start at `k`; none when it
/// is not one (`r#ident`).
fn raw_string_end(chars: &[char], k: usize) -> Option<usize> {
    let hashes = chars[k..].iter().take_while(|&&c| c == '#').count();
    let open = k + hashes;
    if chars.get(open) != Some(&'"') {
        return None;
    }
    let closing: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let end = (open + 1..chars.len())
        .find(|&j| chars[j..].starts_with(&closing))
        .map_or(chars.len(), |j| j + closing.len());
    Some(end)
}

/// The (0-based) lines of the `#[cfg(test)]` items of `code` (as
/// [`code_only`] leaves it), and the names of the test modules it declares
/// without a body (`#[cfg(test)] mod tests;`).
fn cfg_test_items(code: &str) -> (BTreeSet<usize>, Vec<String>) {
    const ATTRIBUTE: &str = "#[cfg(test)]";
    let line_of = |offset: usize| code[..offset].matches('\n').count();
    let mut lines = BTreeSet::new();
    let mut modules = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(ATTRIBUTE) {
        let start = from + found;
        let body = start + ATTRIBUTE.len();
        let end = item_end(code, body);
        lines.extend(line_of(start)..=line_of(end.saturating_sub(1).max(start)));
        let item: Vec<&str> = code[body..end].split_whitespace().collect();
        if let [.., "mod", name] = item.as_slice() {
            modules.push(name.trim_end_matches(';').to_owned());
        } else if let [.., "mod", name, ";"] = item.as_slice() {
            modules.push((*name).to_owned());
        }
        from = end.max(body);
    }
    (lines, modules)
}

/// The end (exclusive) of the item starting at `start`: its first `;`
/// outside brackets, or the `}` closing its first `{`.
fn item_end(code: &str, start: usize) -> usize {
    let mut depth = 0usize;
    for (offset, c) in code[start..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return start + offset + 1;
                }
            }
            ';' if depth == 0 => return start + offset + 1,
            _ => {}
        }
    }
    code.len()
}

#[cfg(test)]
mod tests;
