//! ferrolb's CRDs against MetalLB's own, field for field: every way in which
//! they differ is a row of the table "Where the CRDs differ from MetalLB's"
//! in deploy/README.md, with its reason, and every row is still a difference.
//!
//! MetalLB's CRDs are `config/crd/bases/*.yaml` of its Go module, found by
//! `FERROLB_METALLB_SRC` or `scripts/go-tools paths`. Compared: names,
//! scope, versions (served, storage, deprecation, subresources) and every
//! schema keyword at every path, CEL rules one by one. Not compared: the
//! descriptions, the printer columns and the conversion strategy (ferrolb
//! decides that on its own).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

/// The README section that lists the deliberate differences.
const HEADING: &str = "## Where the CRDs differ from MetalLB's";
/// A value one side does not have, as the README writes it.
const ABSENT: &str = "—";

/// One way in which the CRDs of a kind differ.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    /// `Kind`, `Kind/version`, or `Kind/version .spec.field` in the schema.
    path: String,
    /// The attribute: `names.listKind`, `subresources`, `maximum`, `rule`...
    what: String,
    /// MetalLB's value; `None` when it has none.
    metallb: Option<String>,
    /// ferrolb's value; `None` when it has none.
    ferrolb: Option<String>,
}

impl Difference {
    /// The difference as a row of the README's table.
    fn row(&self, why: &str) -> String {
        let cell = |value: &Option<String>| match value {
            Some(v) => format!("`{}`", v.replace('|', "\\|")),
            None => ABSENT.to_owned(),
        };
        format!(
            "| `{}` | `{}` | {} | {} | {why} |",
            self.path,
            self.what,
            cell(&self.metallb),
            cell(&self.ferrolb)
        )
    }
}

/// The attributes of one CRD that are compared: plain ones by (path,
/// attribute), CEL rules by the path of the schema node that holds them.
#[derive(Default)]
struct Flat {
    attributes: BTreeMap<(String, String), Value>,
    rules: BTreeMap<String, Vec<Map<String, Value>>>,
}

impl Flat {
    /// The compared attributes of `crd`.
    fn of(crd: &Value) -> Flat {
        let mut flat = Flat::default();
        let spec = &crd["spec"];
        let kind = spec["names"]["kind"].as_str().expect("a kind").to_owned();
        for (key, value) in spec.as_object().expect("a CRD spec") {
            match key.as_str() {
                "versions" | "conversion" => {}
                "names" => {
                    for (name, value) in value.as_object().expect("names") {
                        flat.put(&kind, &format!("names.{name}"), value);
                    }
                }
                _ => flat.put(&kind, key, value),
            }
        }
        for version in spec["versions"].as_array().expect("versions") {
            let path = format!("{kind}/{}", version["name"].as_str().expect("a version name"));
            for (key, value) in version.as_object().expect("a version") {
                match key.as_str() {
                    "name" | "additionalPrinterColumns" => {}
                    "schema" => flat.schema(&format!("{path} ."), &value["openAPIV3Schema"]),
                    _ => flat.put(&path, key, value),
                }
            }
        }
        flat
    }

    fn put(&mut self, path: &str, what: &str, value: &Value) {
        self.attributes.insert((path.to_owned(), what.to_owned()), canonical(value));
    }

    /// Every keyword of the schema node at `path`, and of the nodes below.
    fn schema(&mut self, path: &str, node: &Value) {
        // `.` alone is the object; below it, `.spec`, not `..spec`.
        let child = |name: &str| match path.ends_with('.') {
            true => format!("{path}{name}"),
            false => format!("{path}.{name}"),
        };
        for (key, value) in node.as_object().expect("a schema node") {
            match (key.as_str(), value) {
                ("description", _) => {}
                ("properties", Value::Object(properties)) => {
                    for (name, property) in properties {
                        self.schema(&child(name), property);
                    }
                }
                ("items", Value::Object(_)) => self.schema(&format!("{path}[]"), value),
                ("additionalProperties", Value::Object(_)) => self.schema(&child("*"), value),
                ("x-kubernetes-validations", Value::Array(rules)) => {
                    let rules = rules.iter().map(|r| r.as_object().expect("a rule").clone());
                    self.rules.entry(path.to_owned()).or_default().extend(rules);
                }
                ("required", Value::Array(names)) => {
                    let mut names = names.clone();
                    names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    self.put(path, key, &Value::Array(names));
                }
                _ => self.put(path, key, value),
            }
        }
    }
}

/// `value` with descriptions dropped and whole floats written as integers,
/// so that YAML's `4294967295` and JSON's `4294967295.0` compare equal.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| *k != "description").map(|(k, v)| (k.clone(), canonical(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 2f64.powi(63) => json!(f as i64),
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

/// A value as a README cell shows it: strings bare, the rest as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A rule as the README shows it: its message, and any other attribute but
/// the rule itself in brackets (`[fieldPath: .peerASN]`).
fn render_rule(rule: &Map<String, Value>) -> String {
    let mut text = rule.get("message").map(render).unwrap_or_default();
    for (key, value) in rule.iter().filter(|(k, _)| !matches!(k.as_str(), "rule" | "message")) {
        text.push_str(&format!(" [{key}: {}]", render(value)));
    }
    text
}

/// Every difference between MetalLB's CRDs and ferrolb's, by CRD name.
fn differences(metallb: &BTreeMap<String, Value>, ferrolb: &BTreeMap<String, Value>) -> BTreeSet<Difference> {
    let mut found = BTreeSet::new();
    for name in metallb.keys().chain(ferrolb.keys()).collect::<BTreeSet<_>>() {
        let (m, f) = match (metallb.get(name), ferrolb.get(name)) {
            (Some(m), Some(f)) => (Flat::of(m), Flat::of(f)),
            (m, f) => {
                let present = |crd: Option<&Value>| crd.map(|_| "present".to_owned());
                let what = "CustomResourceDefinition".to_owned();
                found.insert(Difference {
                    path: name.clone(),
                    what,
                    metallb: present(m),
                    ferrolb: present(f),
                });
                continue;
            }
        };
        for key in m.attributes.keys().chain(f.attributes.keys()).collect::<BTreeSet<_>>() {
            let (mv, fv) = (m.attributes.get(key), f.attributes.get(key));
            if mv != fv {
                let (path, what) = key.clone();
                found.insert(Difference { path, what, metallb: mv.map(render), ferrolb: fv.map(render) });
            }
        }
        for path in m.rules.keys().chain(f.rules.keys()).collect::<BTreeSet<_>>() {
            found.extend(rule_differences(path, m.rules.get(path), f.rules.get(path)));
        }
    }
    found
}

/// The rules of one schema node, matched by their CEL text: a rule on one
/// side only, or the same rule with another message (or field path...).
fn rule_differences(
    path: &str,
    metallb: Option<&Vec<Map<String, Value>>>,
    ferrolb: Option<&Vec<Map<String, Value>>>,
) -> Vec<Difference> {
    let by_text = |rules: Option<&Vec<Map<String, Value>>>| -> BTreeMap<String, Map<String, Value>> {
        rules.into_iter().flatten().map(|r| (render(&r["rule"]), r.clone())).collect()
    };
    let (metallb, ferrolb) = (by_text(metallb), by_text(ferrolb));
    let mut found = Vec::new();
    for text in metallb.keys().chain(ferrolb.keys()).collect::<BTreeSet<_>>() {
        let (m, f) = (metallb.get(text), ferrolb.get(text));
        if m.map(|r| canonical(&Value::Object(r.clone()))) != f.map(|r| canonical(&Value::Object(r.clone())))
        {
            found.push(Difference {
                path: path.to_owned(),
                what: "rule".to_owned(),
                metallb: m.map(render_rule),
                ferrolb: f.map(render_rule),
            });
        }
    }
    found
}

/// ferrolb's CRDs, as JSON, by name.
fn ferrolb_crds() -> BTreeMap<String, Value> {
    ferrolb_api::crds::all()
        .into_iter()
        .map(|crd| {
            let value = serde_json::to_value(&crd).expect("a CRD serializes");
            (crd.metadata.name.expect("a CRD name"), value)
        })
        .collect()
}

/// MetalLB's CRDs from the YAML files in `dir`, as JSON, by name.
fn metallb_crds(dir: &Path) -> BTreeMap<String, Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut crds = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (documents, error) = ferrolb_api::yaml::parse_documents(&text);
        assert_eq!(error, None, "{}: YAML syntax", file.display());
        for document in documents.iter().filter(|d| !d.is_null()) {
            let (crd, _) = ferrolb_api::yaml::de::from_node::<Value>(document, &[])
                .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
            if crd["kind"] == "CustomResourceDefinition" {
                let name = crd["metadata"]["name"].as_str().expect("a CRD name").to_owned();
                crds.insert(name, crd);
            }
        }
    }
    assert!(!crds.is_empty(), "{}: no CustomResourceDefinition", dir.display());
    crds
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `config/crd/bases` under `module`, if it is there.
fn bases(module: &Path) -> Result<PathBuf, String> {
    let dir = module.join("config/crd/bases");
    match dir.is_dir() {
        true => Ok(dir),
        false => Err(format!("{} is not a directory", dir.display())),
    }
}

/// MetalLB's CRD directory, from `FERROLB_METALLB_SRC`, else from
/// `scripts/go-tools paths`; or why neither gave one.
fn metallb_bases() -> Result<PathBuf, String> {
    let from_env = match std::env::var_os("FERROLB_METALLB_SRC") {
        Some(module) => bases(Path::new(&module)).map_err(|e| format!("FERROLB_METALLB_SRC: {e}")),
        None => Err("FERROLB_METALLB_SRC is not set".to_owned()),
    };
    from_env
        .or_else(|env| from_go_tools().map_err(|script| format!("{env}; scripts/go-tools paths: {script}")))
}

/// MetalLB's CRD directory as `scripts/go-tools paths` names its module.
fn from_go_tools() -> Result<PathBuf, String> {
    let script = workspace().join("scripts/go-tools");
    let out = Command::new(&script).arg("paths").output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let module = stdout.lines().find_map(|line| line.strip_prefix("FERROLB_METALLB_SRC="));
    match module.filter(|m| !m.is_empty()) {
        Some(module) => bases(Path::new(module)),
        None => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let said = stderr.lines().last().map(|l| format!(": {l}")).unwrap_or_default();
            Err(format!("no FERROLB_METALLB_SRC (is Go installed?){said}"))
        }
    }
}

/// MetalLB's CRD directory; `None` when it cannot be found here, after
/// saying so, except in CI (or with `FERROLB_GO_TOOLS_REQUIRED`), where
/// that fails the test.
fn metallb_ready() -> Option<PathBuf> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("crd_parity");
    match metallb_bases() {
        Ok(dir) => Some(dir),
        Err(reason)
            if std::env::var_os("CI").is_some()
                || std::env::var_os("FERROLB_GO_TOOLS_REQUIRED").is_some() =>
        {
            panic!("{test}: MetalLB's CRDs are needed: {reason} (run scripts/go-tools metallb)")
        }
        Err(reason) => {
            // Straight to the file descriptor: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason} (run scripts/go-tools metallb)");
            None
        }
    }
}

/// Splits a table row into its cells, `\|` standing for a `|` in a cell.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => cells.last_mut().unwrap().push(chars.next().unwrap()),
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// A cell's value: `None` for the dash, the text between backticks else.
fn value(cell: &str) -> Option<String> {
    (cell != ABSENT)
        .then(|| cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')).unwrap_or(cell).to_owned())
}

/// The rows of the README's table: each difference with its reason.
fn listed() -> Vec<(Difference, String)> {
    let readme = std::fs::read_to_string(workspace().join("deploy/README.md")).expect("deploy/README.md");
    let section =
        readme.split_once(HEADING).unwrap_or_else(|| panic!("deploy/README.md has no {HEADING:?}")).1;
    let rows = section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    let mut listed = Vec::new();
    for row in rows.skip(2) {
        let cells = cells(row);
        assert_eq!(cells.len(), 5, "deploy/README.md: a row of five cells: {row}");
        let difference = Difference {
            path: value(&cells[0]).expect("a path"),
            what: value(&cells[1]).expect("an attribute"),
            metallb: value(&cells[2]),
            ferrolb: value(&cells[3]),
        };
        listed.push((difference, cells[4].clone()));
    }
    listed
}

#[test]
fn crds_are_metallbs_but_for_the_listed_differences() {
    let Some(dir) = metallb_ready() else { return };
    let found = differences(&metallb_crds(&dir), &ferrolb_crds());
    let listed: BTreeSet<Difference> = listed().into_iter().map(|(d, _)| d).collect();
    let unlisted: Vec<String> = found.difference(&listed).map(|d| d.row("?")).collect();
    let gone: Vec<String> = listed.difference(&found).map(|d| d.row("...")).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "ferrolb's CRDs against MetalLB's in {}:\n\
         {} differences that deploy/README.md does not list (make them agree, or list them \
         with a reason):\n{}\n\
         {} rows of deploy/README.md that are no longer differences (remove them):\n{}",
        dir.display(),
        unlisted.len(),
        unlisted.join("\n"),
        gone.len(),
        gone.join("\n"),
    );
}

#[test]
fn every_listed_difference_has_a_reason_and_a_kind() {
    let kinds: BTreeSet<String> =
        ferrolb_crds().values().map(|c| render(&c["spec"]["names"]["kind"])).collect();
    let listed = listed();
    assert!(!listed.is_empty());
    let mut seen = BTreeSet::new();
    for (difference, why) in &listed {
        assert!(seen.insert(difference), "listed twice: {difference:?}");
        assert!(!why.is_empty() && why != "?", "no reason for {difference:?}");
        let kind = difference.path.split(['/', ' ']).next().unwrap_or_default();
        assert!(kinds.contains(kind), "{:?} names no kind of ferrolb's", difference.path);
    }
}

/// The comparison sees each kind of change: a bound, a marker, a name, a
/// version flag, a required field and a rule's message.
#[test]
fn a_changed_crd_shows_each_change() {
    let ferrolb = ferrolb_crds();
    let mut changed = ferrolb.clone();
    let peer = changed.get_mut("bgppeers.metallb.io").expect("the BGPPeer CRD");
    peer["spec"]["names"]["listKind"] = json!("Peers");
    let v1beta2 = &mut peer["spec"]["versions"][1];
    v1beta2["served"] = json!(false);
    let spec = &mut v1beta2["schema"]["openAPIV3Schema"]["properties"]["spec"];
    spec["properties"]["peerPort"]["maximum"] = json!(1000.0);
    spec["properties"]["nodeSelectors"]["items"]["x-kubernetes-map-type"] = json!("granular");
    spec["required"] = json!([]);
    let rule = &mut spec["properties"]["enableGracefulRestart"]["x-kubernetes-validations"][0];
    let message = render(&rule["message"]);
    rule["message"] = json!("changed");
    let found: Vec<_> = differences(&ferrolb, &changed).into_iter().map(|d| d.row("")).collect();
    assert_eq!(
        found,
        [
            "| `BGPPeer` | `names.listKind` | `BGPPeerList` | `Peers` |  |".to_owned(),
            "| `BGPPeer/v1beta2` | `served` | `true` | `false` |  |".to_owned(),
            "| `BGPPeer/v1beta2 .spec` | `required` | `[\"myASN\"]` | `[]` |  |".to_owned(),
            format!(
                "| `BGPPeer/v1beta2 .spec.enableGracefulRestart` | `rule` | `{message}` | `changed` |  |"
            ),
            "| `BGPPeer/v1beta2 .spec.nodeSelectors[]` | `x-kubernetes-map-type` | `atomic` | `granular` |  |"
                .to_owned(),
            "| `BGPPeer/v1beta2 .spec.peerPort` | `maximum` | `16384` | `1000` |  |".to_owned(),
        ]
    );
}

#[test]
fn readme_cells_read_back_as_written() {
    let difference = Difference {
        path: "BGPPeer/v1beta2 .spec".to_owned(),
        what: "rule".to_owned(),
        metallb: None,
        ferrolb: Some("a || b".to_owned()),
    };
    let cells = cells(&difference.row("why"));
    assert_eq!(cells.len(), 5);
    assert_eq!((value(&cells[2]), value(&cells[3])), (None, Some("a || b".to_owned())));
}
