//! The shape of the source tree, checked on every test run: no import circle between the
//! top-level modules of `src/` (ARCHITECTURE.md, "Code map"), and no comment that points a
//! reader at a document outside the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/api.rs` and `src/api/*` are `api`);
/// `None` for the crate root and the binary.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// The code of a line without its comment (a `//` outside a string literal ends it).
fn code(line: &str) -> &str {
    let mut in_str = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '/' if !in_str && prev == '/' => return &line[..i - 1],
            _ => {}
        }
        prev = c;
    }
    line
}

/// The top-level modules a piece of code names through `crate::` paths, calls included.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let mut rest = code(line);
        while let Some(i) = rest.find("crate::") {
            // `hookgate_crate::x` is not ours; the match must start a path.
            let before = rest[..i].chars().next_back();
            rest = &rest[i + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                used.insert(ident);
            }
        }
    }
    used
}

/// Module → the other top-level modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(f) else { continue };
        let text = std::fs::read_to_string(f).expect("read");
        let deps = g.entry(m.clone()).or_default();
        for used in crate_paths(&text) {
            // Functions of the crate root (`crate::unix_now`) are no module.
            if used != m && modules.contains(&used) {
                deps.insert(used);
            }
        }
    }
    g
}

/// A circle in `g`, if there is one, as the path that closes it.
fn find_circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut circle = path[i..].to_vec();
            circle.push(m.to_owned());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_sees_inline_paths_and_ignores_comments() {
    let text = "use crate::a::X;\nfn f() { crate::b::handle(); } // crate::c\n/// [`crate::d`]\nlet s = \"//\"; crate::e::go();\nhookgate_crate::f();";
    let got: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(got, ["a", "b", "e"]);
    let mut g = BTreeMap::new();
    g.insert("app".to_owned(), BTreeSet::from(["api".to_owned()]));
    g.insert("api".to_owned(), BTreeSet::from(["router".to_owned()]));
    g.insert("router".to_owned(), BTreeSet::from(["app".to_owned()]));
    assert_eq!(
        find_circle(&g).map(|c| c.join(" → ")).as_deref(),
        Some("api → router → app → api")
    );
    g.remove("router");
    assert_eq!(find_circle(&g), None);
}

#[test]
fn no_import_circles_between_top_level_modules() {
    let g = graph();
    assert!(g.contains_key("app") && g.contains_key("drivers"), "{g:?}");
    if let Some(circle) = find_circle(&g) {
        panic!(
            "import circle between modules of src/: {}\nfull picture: {g:#?}",
            circle.join(" → ")
        );
    }
}

#[test]
fn comments_point_at_documents_the_reader_has() {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "fuzz/fuzz_targets"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        if d.exists() {
            rust_files(&d, &mut files);
        }
    }
    let outside = [
        "SPEC §",
        "SPEC.md",
        "HARDENING.md",
        "cattle-api.md",
        "../shared",
    ];
    let mut found = Vec::new();
    for f in files {
        if f.ends_with("layout.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o)) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
