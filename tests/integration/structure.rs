//! The shape of the code: no file of `src/` imports, directly or through others, a file that
//! imports it back. Data flows one way (source → features → summaries → sink), and so do imports.
//!
//! A file's imports are the `crate::…`, `super::…` and `self::…` paths it names (in `use` items
//! and inline), each resolved to the longest module path that is a file; `mod.rs` and a
//! module's own submodules (declared with `mod x;`) are not imports of each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`pipeline::sink::lake`) → file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            // main.rs stays `main`: the binary is a crate of its own, beside the library.
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// `path` (`crate::a`, `super::b`, `self::c`) made absolute from `module`; None for paths that
/// start elsewhere (`std::…`).
fn absolute(path: &str, module: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    match segments.first().copied() {
        Some("crate") => {
            base.clear();
            segments.remove(0);
        }
        Some("self") => {
            segments.remove(0);
        }
        Some("super") => {
            // A file's `super` is its parent module (for mod.rs, the module's parent).
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
        }
        _ => return None,
    }
    base.extend(segments);
    Some(base.join("::"))
}

fn joined(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}::{name}")
    }
}

/// The items of a use tree's braces (`{a, b::{c, d}, e as f}`), each with `prefix`, into `out`;
/// returns where the braces close.
fn use_tree(code: &str, prefix: &str, out: &mut Vec<String>) -> usize {
    let (mut item, mut at) = (String::new(), 0);
    let bytes: Vec<char> = code.chars().collect();
    while at < bytes.len() {
        let c = bytes[at];
        match c {
            '{' => {
                let inner = joined(prefix, item.trim().trim_end_matches("::"));
                let rest: String = bytes[at + 1..].iter().collect();
                at += 1 + use_tree(&rest, &inner, out);
                item.clear();
            }
            ',' | '}' => {
                let name = item.trim().split(" as ").next().unwrap_or("").trim();
                match name {
                    "" => {}
                    "self" => out.push(prefix.to_string()),
                    name => out.push(joined(prefix, name)),
                }
                item.clear();
                if c == '}' {
                    return at + 1;
                }
            }
            _ => item.push(c),
        }
        at += 1;
    }
    at
}

/// The paths a file names that start at `crate`, `super` or `self`, made absolute.
fn named_paths(text: &str, module: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    // Tests may reach anywhere; what they import is not the module's shape.
    let code = match code.find("#[cfg(test)]") {
        Some(at) => &code[..at],
        None => &code[..],
    };
    let mut paths = Vec::new();
    let starts = ["crate::", "super::", "self::"]
        .iter()
        .flat_map(|needle| code.match_indices(needle).map(|(i, _)| i));
    for start in starts {
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[start..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(':');
        let Some(prefix) = absolute(path, module) else {
            continue;
        };
        if rest[end..].starts_with('{') {
            use_tree(&rest[end + 1..], &prefix, &mut paths);
        } else {
            paths.push(prefix);
        }
    }
    paths
}

/// The file a path lands in: the longest prefix that is a module.
fn resolve<'a>(path: &str, modules: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    let segments: Vec<&str> = path.split("::").collect();
    (0..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find_map(|prefix| modules.get_key_value(&prefix).map(|(k, _)| k.as_str()))
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let mut edges = BTreeSet::new();
        for path in named_paths(&text, module) {
            if let Some(target) = resolve(&path, &modules) {
                // A module and its own parent or children are one unit of declaration.
                let related = target.is_empty()
                    || module.starts_with(&format!("{target}::"))
                    || target.starts_with(&format!("{module}::"));
                if target != module && !related {
                    edges.insert(target.to_string());
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// Strongly connected components of more than one file (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_file_in_src_imports_a_file_that_imports_it_back() {
    let graph = import_graph();
    let found = circles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|files| {
            let edges: Vec<String> = files
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| files.contains(b))
                        .map(move |b| format!("{a} → {b}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "import circles in src/:\n{}",
        described.join("\n")
    );
}

#[test]
fn the_checker_finds_a_circle_and_resolves_braced_and_relative_imports() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(circles(&graph), [vec!["a", "b", "c"]]);

    let paths = named_paths(
        "use super::sink::{lake::TableKind, writer};\nuse crate::{aws::AwsClients, a::{b, c as d}};",
        "pipeline::supervisor",
    );
    assert!(paths.contains(&"a::b".to_string()), "{paths:?}");
    assert!(paths.contains(&"a::c".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"pipeline::sink::lake::TableKind".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"pipeline::sink::writer".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"aws::AwsClients".to_string()), "{paths:?}");
}

/// Whether a line (indentation removed) opens a function: `fn`, after any visibility
/// (`pub`, `pub(crate)`, `pub(super)`, …) and qualifiers (`const`, `async`, `unsafe`).
fn is_fn_line(code: &str) -> bool {
    let mut rest = code;
    if let Some(after) = rest.strip_prefix("pub") {
        rest = match after.strip_prefix('(') {
            Some(scope) => scope.split_once(") ").map_or("", |(_, r)| r),
            None => after.trim_start(),
        };
    }
    for qualifier in ["const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    rest.starts_with("fn ")
}

/// Functions of `src/` and their lengths in lines, from the `fn` line to the closing brace at
/// its indentation (rustfmt's layout).
fn function_lengths() -> Vec<(usize, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for (module, file) in modules(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let code = line.trim_start();
            let indent = &line[..line.len() - code.len()];
            let is_fn = is_fn_line(code);
            if is_fn && !code.ends_with(';') && !code.ends_with("{}") {
                let close = format!("{indent}}}");
                let end = (i + 1..lines.len())
                    .find(|&j| lines[j] == close)
                    .unwrap_or(lines.len() - 1);
                let name = code.split('(').next().unwrap_or(code).to_string();
                out.push((end - i + 1, format!("{module}: {name}")));
                i = end;
            }
            i += 1;
        }
    }
    out
}

#[test]
fn no_function_in_src_is_longer_than_100_lines() {
    let long: Vec<String> = function_lengths()
        .into_iter()
        .filter(|(lines, _)| *lines > 100)
        .map(|(lines, name)| format!("{name} ({lines} lines)"))
        .collect();
    assert!(long.is_empty(), "split into steps:\n{}", long.join("\n"));
}

#[test]
fn a_function_is_found_whatever_its_visibility_and_qualifiers() {
    for line in [
        "fn a() {",
        "pub fn a() {",
        "pub(crate) async fn a() {",
        "pub(super) fn a() {",
        "pub(in crate::x) const fn a() {",
        "async unsafe fn a() {",
    ] {
        assert!(is_fn_line(line), "{line}");
    }
    for line in [
        "let fn_name = 1;",
        "pub struct F;",
        "// fn in a comment",
        "pub(crate) struct S;",
    ] {
        assert!(!is_fn_line(line), "{line}");
    }
}
