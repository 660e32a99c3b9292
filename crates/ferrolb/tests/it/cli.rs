//! `ferrolb validate`, `plan` and `crds` on the project's examples, the
//! README's sample output and MetalLB's configs from the article.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ferrolb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolb")).args(args).current_dir(repo()).output().expect("ferrolb runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn example_cluster_is_valid() {
    let out = ferrolb(&["validate", "examples/cluster.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn readme_shows_what_validate_prints() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let shown: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("$ ferrolb validate examples/invalid/mistakes.yaml"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = ferrolb(&["validate", "examples/invalid/mistakes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), shown);
}

#[test]
fn plan_json_lists_every_load_balancer_service() {
    let out = ferrolb(&["plan", "examples/cluster.yaml", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = plan["services"].as_array().unwrap();
    let names: Vec<&str> = services.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "dns-tcp", "dns-udp", "portal", "typo", "web", "app"]);
    let typo = &services[4];
    assert_eq!(typo["ips"], serde_json::json!([]));
    assert_eq!(typo["pool"], serde_json::Value::Null);
    assert_eq!(typo["error"], "unknown pool \"pubilc\" (did you mean \"public\"?)");
    assert_eq!(services[1]["ips"], services[2]["ips"], "dns-tcp and dns-udp share an IP");
    assert_eq!(services[3]["ips"].as_array().unwrap().len(), 2, "portal is dual-stack");
}

#[test]
fn plan_refuses_an_invalid_config() {
    let out = ferrolb(&["plan", "examples/invalid/mistakes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not planned: the configuration is invalid"));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn crds_are_nine_yaml_documents_of_metallb_io() {
    let out = ferrolb(&["crds"]);
    assert!(out.status.success());
    let yaml = text(&out.stdout);
    let (documents, error) = ferrolb_api::yaml::parse_documents(&yaml);
    assert_eq!(error, None);
    let names: Vec<&str> = documents
        .iter()
        .map(|d| d.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap())
        .collect();
    assert_eq!(names.len(), 9);
    assert!(names.iter().all(|n| n.ends_with(".metallb.io")), "{names:?}");
}

/// The two MetalLB configs of the article ferrolb starts from, byte for byte.
#[test]
fn metallb_fixtures_validate_and_plan_cleanly() {
    let fixtures = repo().join("../shared/fixtures");
    let Ok(entries) = std::fs::read_dir(&fixtures) else {
        // CI always lays shared/ beside the clone; elsewhere it may be absent.
        assert!(std::env::var_os("CI").is_none(), "no {} in CI", fixtures.display());
        eprintln!("skipped: no {} here", fixtures.display());
        return;
    };
    let mut seen = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let file = path.to_str().unwrap();
        for args in [vec!["validate", file], vec!["plan", file, "-o", "json"]] {
            let out = ferrolb(&args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            assert_eq!(text(&out.stderr), "", "{args:?} prints no warning");
        }
        seen += 1;
    }
    assert_eq!(seen, 2, "seed-l2.yaml and seed-bgp.yaml");
}

#[test]
fn plan_for_a_node_shows_its_bgp_routes_and_why() {
    let out = ferrolb(&["plan", "examples/cluster.yaml", "--node", "node1", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let node = &plan["node"];
    assert_eq!(node["name"], "node1");
    let router = &node["peers"][0];
    assert_eq!((router["peer"].as_str(), router["session"].as_bool()), (Some("router"), Some(true)));
    let prefixes: Vec<&str> =
        router["routes"].as_array().unwrap().iter().map(|r| r["prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, ["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32", "203.0.113.130/32"]);
    assert_eq!(router["routes"][0]["communities"], serde_json::json!(["64512:100"]));
    let team_a = node["decisions"].as_array().unwrap().iter().find(|d| d["service"] == "team-a/app").unwrap();
    assert_eq!(team_a["announced"], false);
    assert_eq!(team_a["reason"], "no BGPAdvertisement selects pool team-a");
}
