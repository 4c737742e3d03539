//! `cargo xtask circles`: no module of a crate imports, through any chain, a module that
//! imports it back.
//!
//! A module is a file: `lib.rs` is the root, `a.rs` and `a/mod.rs` are `a`, `a/b.rs` is
//! `a::b`. A file that names `crate::a::…`, `super::…` or a name the root re-exports from `a`
//! (`use crate::{Name}`) depends on `a`. A module that contains another (the root, or a folder's
//! `mod.rs`) declares and re-exports it, so those edges are not counted; the edge from a child
//! up to its parent is. The check reads the source as text: a full parser (`syn`, or
//! `cargo-modules`, which builds rust-analyzer) would cost CI minutes for what these few
//! patterns find.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The circles of every crate under `crates/`, each as `crate: a, b reach each other`.
pub(crate) fn find(root: &Path) -> Result<Vec<String>, String> {
    let mut circles = Vec::new();
    let crates = fs::read_dir(root.join("crates")).map_err(|e| format!("crates/: {e}"))?;
    let mut crates: Vec<PathBuf> = crates.filter_map(|e| e.ok().map(|e| e.path())).collect();
    crates.sort();
    for krate in crates {
        let src = krate.join("src");
        if !src.is_dir() {
            continue;
        }
        let name = krate.file_name().map(|n| n.to_string_lossy().into_owned());
        let graph = Graph::read(&src)?;
        for circle in graph.circles() {
            circles.push(format!("{}: {}", name.clone().unwrap_or_default(), circle));
        }
    }
    Ok(circles)
}

/// The modules of one crate and what each depends on.
struct Graph {
    /// Module path (`""` for the root, `a::b`) to its source with comments removed.
    modules: BTreeMap<String, String>,
    /// A name the root re-exports to the module it comes from.
    reexports: BTreeMap<String, String>,
}

impl Graph {
    fn read(src: &Path) -> Result<Self, String> {
        let mut modules = BTreeMap::new();
        let mut files = vec![src.to_owned()];
        while let Some(at) = files.pop() {
            if at.is_dir() {
                let entries = fs::read_dir(&at).map_err(|e| format!("{}: {e}", at.display()))?;
                files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
                continue;
            }
            if at.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = at.strip_prefix(src).map_err(|e| e.to_string())?;
            let text = fs::read_to_string(&at).map_err(|e| format!("{}: {e}", at.display()))?;
            modules.insert(module_of(relative), without_comments(&text));
        }
        let root = modules.get("").cloned().unwrap_or_default();
        let reexports = root_reexports(&root);
        Ok(Graph { modules, reexports })
    }

    /// The modules `module` depends on, parents' edges to what they contain left out.
    fn edges(&self, module: &str) -> BTreeSet<String> {
        let text = &self.modules[module];
        let mut out = BTreeSet::new();
        for path in paths(text) {
            let Some(target) = self.resolve(module, &path) else {
                continue;
            };
            let contains = module.is_empty() || target.starts_with(&format!("{module}::"));
            if target != module && !contains {
                out.insert(target);
            }
        }
        out
    }

    /// The module a path written in `module` points into.
    fn resolve(&self, module: &str, path: &[String]) -> Option<String> {
        let (mut at, rest): (Vec<&str>, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "super" => {
                let mut at: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    at.pop();
                    rest = &rest[1..];
                }
                (at, rest)
            }
            _ => return None,
        };
        let mut found = at.join("::");
        for segment in rest {
            at.push(segment);
            let candidate = at.join("::");
            if self.modules.contains_key(&candidate) {
                found = candidate;
            } else {
                break;
            }
        }
        if found.is_empty() {
            let name = rest.first()?;
            return self.reexports.get(name).cloned();
        }
        Some(found)
    }

    /// Every group of two or more modules that reach each other through imports (a strongly
    /// connected component), as `a, b, c reach each other`.
    fn circles(&self) -> Vec<String> {
        let names: Vec<&String> = self.modules.keys().collect();
        let edges: BTreeMap<&str, BTreeSet<String>> =
            names.iter().map(|m| (m.as_str(), self.edges(m))).collect();
        let reach = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from.to_owned()];
            while let Some(at) = todo.pop() {
                for next in edges.get(at.as_str()).into_iter().flatten() {
                    if seen.insert(next.clone()) {
                        todo.push(next.clone());
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<&str, BTreeSet<String>> =
            names.iter().map(|m| (m.as_str(), reach(m))).collect();
        let mut reported = BTreeSet::new();
        let mut circles = Vec::new();
        for module in &names {
            if reported.contains(module.as_str()) || !reaches[module.as_str()].contains(*module) {
                continue;
            }
            let group: Vec<&str> = names
                .iter()
                .map(|m| m.as_str())
                .filter(|m| reaches[module.as_str()].contains(*m) && reaches[m].contains(*module))
                .collect();
            reported.extend(group.iter().map(|m| (*m).to_owned()));
            let shown: Vec<&str> = group.iter().map(|m| display(m)).collect();
            circles.push(format!("{} reach each other", shown.join(", ")));
        }
        circles
    }
}

fn display(module: &str) -> &str {
    if module.is_empty() { "(root)" } else { module }
}

/// `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` and `main.rs` → the root.
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        let is_root = parts.is_empty() && (stem == "lib" || stem == "main");
        if stem != "mod" && !is_root {
            parts.push(stem.to_owned());
        }
    }
    parts.join("::")
}

/// `text` without `//` comments (doc comments name paths in links, not imports).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `pub use a::{X, Y};` and `pub use a::X;` in the root re-export, by name.
fn root_reexports(root: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in root.split(';') {
        let Some(body) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = body.split_once("::") else {
            continue;
        };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.split("::").last().unwrap_or("").trim();
            let name = name.split(" as ").last().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    map
}

/// Every path that starts at `crate` or `super`, with `use` groups spread out:
/// `crate::{a::X, b}` gives `crate::a::X` and `crate::b`.
fn paths(text: &str) -> Vec<Vec<String>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = text[from..].find(start) {
            let at = from + found;
            from = at + start.len();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b == b'$' || b == b'_' || b.is_ascii_alphanumeric()) {
                continue;
            }
            let head = start.trim_end_matches("::").to_owned();
            spread(&text[at + start.len()..], vec![head], &mut out);
        }
    }
    out
}

/// Reads the path that continues at `rest` after `prefix`, spreading one level of braces.
fn spread(rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut rest = rest;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim();
                if !item.is_empty() && !item.starts_with('{') {
                    spread(item, path.clone(), out);
                }
            }
            return;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        path.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out.push(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let modules: BTreeMap<String, String> = files
            .iter()
            .map(|(m, t)| ((*m).to_owned(), without_comments(t)))
            .collect();
        let reexports = root_reexports(modules.get("").map_or("", |s| s.as_str()));
        Graph { modules, reexports }
    }

    #[test]
    fn two_modules_that_import_each_other_are_a_circle() {
        let g = graph(&[
            ("", "mod a; mod b; pub use a::A; pub use b::{B, C};"),
            ("a", "use crate::B;"),
            ("b", "use crate::{a::A, b::C};"),
        ]);
        assert_eq!(g.circles(), vec!["a, b reach each other".to_owned()]);
    }

    #[test]
    fn a_parent_that_re_exports_its_child_is_no_circle() {
        let g = graph(&[
            ("", "pub mod kit; pub use kit::K;"),
            ("kit", "mod x; pub use x::X;"),
            ("kit::x", "use super::super::K; use crate::kit::Y;"),
        ]);
        assert!(g.circles().is_empty(), "{:?}", g.circles());
    }

    #[test]
    fn a_chain_of_three_is_one_circle_and_comments_do_not_count() {
        let g = graph(&[
            ("", ""),
            ("a", "use crate::b::X; // crate::c::Y"),
            ("b", "fn f() { crate::c::g() }"),
            ("c", "use super::a;"),
        ]);
        assert_eq!(g.circles(), vec!["a, b, c reach each other".to_owned()]);
    }

    #[test]
    fn macros_paths_are_not_imports() {
        let g = graph(&[("", ""), ("a", "$crate::b::X"), ("b", "use crate::a;")]);
        assert!(g.circles().is_empty());
    }

    #[test]
    fn module_paths_come_from_file_paths() {
        assert_eq!(module_of(Path::new("lib.rs")), "");
        assert_eq!(module_of(Path::new("kit/mod.rs")), "kit");
        assert_eq!(module_of(Path::new("kit/commit.rs")), "kit::commit");
    }
}
