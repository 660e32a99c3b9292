//! The Helm chart `deploy/helm/ferrolb` (built helm: `scripts/go-tools helm`):
//! it lints, renders deploy/ferrolb.yaml's objects with its default values and
//! what its other values say, refuses what ferrolb cannot honour, and what it
//! renders is accepted by the API server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::documents::parse_documents;
use crate::support::{Cleanup, Cluster, NAMESPACE, deploy_dir, documents, go_tools_path};

/// The labels the chart puts on every object beyond deploy/'s.
const HELM_LABELS: &[&str] = &[
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
];
/// The annotation the chart puts on its CRDs (kept on `helm uninstall`).
const KEEP: &str = "helm.sh/resource-policy";

/// Values other than the defaults, and what each should do.
const CUSTOM_VALUES: &str = r#"
image:
  repository: registry.example.com/lb/ferrolb
  tag: v9.8.7
  pullPolicy: IfNotPresent
imagePullSecrets:
- name: registry-credentials
loadBalancerClass: example.com/ferrolb
crds:
  enabled: false
tls:
  speakerMetricsTLSSecret: speaker-metrics-tls
prometheus:
  metricsPort: 9443
  serviceAccount: prometheus-k8s
  namespace: monitoring
  serviceMonitor:
    enabled: true
    interval: 15s
    controller:
      additionalLabels:
        release: kube-prometheus
  prometheusRule:
    enabled: true
    additionalLabels:
      release: kube-prometheus
speaker:
  logLevel: debug
  gratuitousARPInterval: 30
  frr:
    enabled: false
  tolerations:
  - key: example.com/edge
    operator: Exists
    effect: NoExecute
"#;

fn chart() -> PathBuf {
    deploy_dir().join("helm/ferrolb")
}

/// `helm ARGS`: its standard output, or its standard error when it fails.
fn run(helm: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm).args(args).output().unwrap_or_else(|e| panic!("{}: {e}", helm.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() { Ok(stdout) } else { Err(format!("helm {}: {stderr}{stdout}", args.join(" "))) }
}

/// `helm template RELEASE deploy/helm/ferrolb -n NAMESPACE EXTRA...`, each object as JSON.
fn render(helm: &Path, release: &str, namespace: &str, extra: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec!["template", release, chart.to_str().unwrap(), "--namespace", namespace];
    args.extend(extra);
    parse_documents(&run(helm, &args).unwrap_or_else(|e| panic!("{e}")))
}

/// A file with `text` in the control plane's directory.
fn scratch_file(cluster: &Cluster, name: &str, text: &str) -> PathBuf {
    let path = cluster.plane().dir().join(name);
    std::fs::write(&path, text).expect("writable scratch directory");
    path
}

fn key(object: &Value) -> String {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
    format!(
        "{}/{namespace}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// `object` without what the chart adds to deploy/'s objects: Helm's labels
/// (checked present on every object but the CRDs) and the CRDs' keep annotation.
fn without_helm(object: &Value, release: &str) -> Value {
    let mut object = object.clone();
    let kind = object["kind"].as_str().unwrap_or("").to_owned();
    let name = key(&object);
    let metadata = object["metadata"].as_object_mut().expect("metadata");
    if kind == "CustomResourceDefinition" {
        let annotations = metadata.get_mut("annotations").and_then(Value::as_object_mut);
        let annotations = annotations.unwrap_or_else(|| panic!("{name} has no annotations"));
        assert_eq!(annotations.remove(KEEP), Some(json!("keep")), "{name} is not kept on uninstall");
        if annotations.is_empty() {
            metadata.remove("annotations");
        }
    } else {
        let labels = metadata["labels"].as_object_mut().unwrap_or_else(|| panic!("{name} has no labels"));
        for label in HELM_LABELS {
            let value = labels.remove(*label).unwrap_or_else(|| panic!("{name} has no label {label}"));
            if *label == "app.kubernetes.io/instance" {
                assert_eq!(value, release, "{name}");
            }
        }
    }
    object
}

/// The first place where `a` and `b` differ, as a path (`None`: equal).
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| {
            difference(
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
                &format!("{path}.{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (x, y))| difference(x, y, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

/// The objects of `objects` of `kind`.
fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// `helm lint` and `helm lint --strict` pass, with the default values and
/// with [`CUSTOM_VALUES`].
pub fn chart_lints_strict(cluster: &Cluster) {
    let Some(helm) = crate::support::helm("helm::chart_lints_strict") else { return };
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let values = scratch_file(cluster, "helm-custom-values.yaml", CUSTOM_VALUES);
    for args in [
        vec!["lint", chart],
        vec!["lint", "--strict", chart],
        vec!["lint", "--strict", chart, "--values", values.to_str().unwrap()],
    ] {
        let printed = run(&helm, &args).unwrap_or_else(|e| panic!("{e}"));
        assert!(printed.contains("1 chart(s) linted, 0 chart(s) failed"), "helm {args:?}:\n{printed}");
        assert!(!printed.contains("[WARNING]") && !printed.contains("[ERROR]"), "helm {args:?}:\n{printed}");
    }
}

/// With its default values, the chart renders the objects of
/// deploy/ferrolb.yaml (all but the Namespace, which Helm's
/// `--create-namespace` makes), field for field, plus Helm's labels and the
/// CRDs' keep annotation; nothing more.
pub fn default_values_render_deploy_ferrolb_yaml(_cluster: &Cluster) {
    let Some(helm) = crate::support::helm("helm::default_values_render_deploy_ferrolb_yaml") else { return };
    let rendered = render(&helm, "ferrolb", NAMESPACE, &[]);
    let rendered: BTreeMap<String, Value> =
        rendered.iter().map(|o| (key(o), without_helm(o, "ferrolb"))).collect();
    let bundle: BTreeMap<String, Value> = documents(&deploy_dir().join("ferrolb.yaml"))
        .into_iter()
        .filter(|o| o["kind"] != "Namespace")
        .map(|o| (key(&o), o))
        .collect();
    let names = |m: &BTreeMap<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&rendered), names(&bundle), "the chart renders other objects than deploy/ferrolb.yaml");
    assert_eq!(
        bundle.len(),
        22,
        "9 CRDs, 2 ServiceAccounts, 5 roles (the metrics reader's), 4 bindings, 2 workloads"
    );
    for (name, object) in &bundle {
        if let Some(path) = difference(&rendered[name], object, "") {
            panic!("{name} rendered by the chart differs from deploy/ferrolb.yaml's at {path}");
        }
    }
}

/// Other values render what they say: another image, pull secrets, a
/// loadBalancerClass, a log level, the speaker's tolerations, no CRDs,
/// ServiceMonitors and the PrometheusRule of deploy/monitoring, all in the
/// release's namespace under the release's names.
pub fn other_values_render_what_they_say(cluster: &Cluster) {
    let Some(helm) = crate::support::helm("helm::other_values_render_what_they_say") else { return };
    let values = scratch_file(cluster, "helm-custom-values.yaml", CUSTOM_VALUES);
    let objects = render(&helm, "edge", "lb-system", &["--values", values.to_str().unwrap()]);
    assert!(of_kind(&objects, "CustomResourceDefinition").is_empty(), "crds.enabled=false renders no CRD");
    for object in &objects {
        let name = key(object);
        assert!(object["metadata"]["name"].as_str().unwrap().starts_with("edge-ferrolb"), "{name}");
        if !["ClusterRole", "ClusterRoleBinding"].contains(&object["kind"].as_str().unwrap()) {
            assert_eq!(object["metadata"]["namespace"], "lb-system", "{name}");
        }
        for subject in object["subjects"].as_array().into_iter().flatten() {
            let prometheus = subject["name"] == "prometheus-k8s";
            assert_eq!(subject["namespace"], if prometheus { "monitoring" } else { "lb-system" }, "{name}");
        }
    }
    // The workloads.
    let deployment = of_kind(&objects, "Deployment");
    let daemonset = of_kind(&objects, "DaemonSet");
    assert_eq!((deployment.len(), daemonset.len()), (1, 1));
    let (controller, speaker) = (&deployment[0]["spec"]["template"], &daemonset[0]["spec"]["template"]);
    for pod in [controller, speaker] {
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["image"], "registry.example.com/lb/ferrolb:v9.8.7");
        assert_eq!(container["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["spec"]["imagePullSecrets"], json!([{"name": "registry-credentials"}]));
        let args = strings(&container["args"]).join(" ");
        assert!(args.contains("--lb-class example.com/ferrolb"), "{args:?}");
        assert!(args.contains("--secure-metrics-address 0.0.0.0:9443"), "{args:?}");
    }
    assert_eq!(
        strings(&controller["spec"]["containers"][0]["args"]),
        ["controller", "--lb-class", "example.com/ferrolb", "--secure-metrics-address", "0.0.0.0:9443"]
    );
    // The speakers' metrics certificate from its Secret; the controller's self-signed.
    let speaker_args = strings(&speaker["spec"]["containers"][0]["args"]);
    assert!(speaker_args.join(" ").contains("--gratuitous-arp-interval 30"), "{speaker_args:?}");
    assert_eq!(speaker_args[speaker_args.len() - 2..], ["--metrics-cert-dir", "/etc/metrics"]);
    let mounted = speaker["spec"]["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(
        mounted.iter().any(|m| m["name"] == "metrics-tls" && m["mountPath"] == "/etc/metrics"),
        "{mounted:?}"
    );
    let volumes = speaker["spec"]["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["name"] == "metrics-tls" && v["secret"]["secretName"] == "speaker-metrics-tls"),
        "{volumes:?}"
    );
    assert!(controller["spec"].get("volumes").is_none(), "the controller's certificate is self-signed");
    let env = |pod: &Value, name: &str| {
        pod["spec"]["containers"][0]["env"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned()
    };
    assert_eq!(env(speaker, "RUST_LOG").map(|e| e["value"].clone()), Some(json!("debug")));
    assert_eq!(env(controller, "RUST_LOG"), None, "the controller's level stays info");
    let secret = env(speaker, "FERROLB_MEMBERLIST_SECRET").expect("the gossip secret");
    assert_eq!(secret["valueFrom"]["secretKeyRef"]["name"], "edge-ferrolb-memberlist");
    let tolerations: Vec<&str> = speaker["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        tolerations,
        ["node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane", "example.com/edge"]
    );
    assert_eq!(speaker["spec"]["tolerations"][2]["effect"], "NoExecute");
    assert!(speaker["spec"]["containers"].as_array().unwrap().len() == 1, "no FRR container");
    // One ServiceMonitor per component, over a Service that selects its pods' monitoring port.
    let services = of_kind(&objects, "Service");
    let monitors = of_kind(&objects, "ServiceMonitor");
    assert_eq!((services.len(), monitors.len()), (2, 2));
    for (component, pod) in [("controller", controller), ("speaker", speaker)] {
        let name = format!("edge-ferrolb-{component}-metrics");
        let monitor =
            monitors.iter().find(|m| m["metadata"]["name"] == name.as_str()).expect("a ServiceMonitor");
        let service = services.iter().find(|s| s["metadata"]["name"] == name.as_str()).expect("a Service");
        let selects = |selector: &Value, labels: &Value| {
            selector.as_object().unwrap().iter().all(|(k, v)| labels.get(k) == Some(v))
        };
        assert!(
            selects(&monitor["spec"]["selector"]["matchLabels"], &service["metadata"]["labels"]),
            "{name}"
        );
        assert!(selects(&service["spec"]["selector"], &pod["metadata"]["labels"]), "{name}");
        assert_eq!(monitor["spec"]["namespaceSelector"]["matchNames"], json!(["lb-system"]));
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(
            (&endpoint["port"], &endpoint["path"], &endpoint["scheme"], &endpoint["interval"]),
            (&json!("metricshttps"), &json!("/metrics"), &json!("https"), &json!("15s"))
        );
        assert_eq!(endpoint["tlsConfig"], json!({"insecureSkipVerify": true}));
        assert_eq!(endpoint["bearerTokenFile"], "/var/run/secrets/kubernetes.io/serviceaccount/token");
        let ports = &pod["spec"]["containers"][0]["ports"];
        assert_eq!((&ports[0]["name"], &ports[0]["containerPort"]), (&json!("monitoring"), &json!(7472)));
        assert_eq!((&ports[1]["name"], &ports[1]["containerPort"]), (&json!("metricshttps"), &json!(9443)));
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "metricshttps");
        assert_eq!(service["spec"]["ports"][0]["port"], 9443);
        let extra = monitor["metadata"]["labels"].get("release").cloned();
        assert_eq!(extra, (component == "controller").then(|| json!("kube-prometheus")), "{name}");
    }
    // rbacPrometheus (MetalLB's default): the Prometheus may find the pods, and read /metrics.
    let binding = |kind: &str| {
        let found =
            of_kind(&objects, kind).into_iter().find(|b| b["metadata"]["name"] == "edge-ferrolb-prometheus");
        let found = found.unwrap_or_else(|| panic!("no {kind} edge-ferrolb-prometheus"));
        assert_eq!(
            found["subjects"],
            json!([{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}])
        );
        found["roleRef"]["name"].as_str().unwrap().to_owned()
    };
    assert_eq!(binding("RoleBinding"), "edge-ferrolb-prometheus");
    assert_eq!(binding("ClusterRoleBinding"), "edge-ferrolb-metrics-reader");
    let role =
        of_kind(&objects, "Role").into_iter().find(|r| r["metadata"]["name"] == "edge-ferrolb-prometheus");
    assert_eq!(
        role.expect("the Prometheus' Role")["rules"],
        json!([{"apiGroups": [""], "resources": ["pods", "services", "endpoints"], "verbs": ["get", "list", "watch"]}])
    );
    // The PrometheusRule holds deploy/monitoring's groups.
    let rules = of_kind(&objects, "PrometheusRule");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["metadata"]["labels"]["release"], "kube-prometheus");
    let expected = &documents(&deploy_dir().join("monitoring/prometheusrule.yaml"))[0];
    if let Some(path) = difference(&rules[0]["spec"], &expected["spec"], "spec") {
        panic!("the chart's PrometheusRule differs from deploy/monitoring/prometheusrule.yaml at {path}");
    }
}

/// What ferrolb cannot honour stops the rendering, with the reason:
/// speaker.frr.enabled (ferrolb never runs FRR), frr-k8s, turning the gossip
/// off, TLS settings rustls does not take, PodMonitors, and keys of MetalLB's chart that
/// ferrolb has no use for (refused by values.schema.json).
pub fn values_ferrolb_cannot_honour_fail_rendering(_cluster: &Cluster) {
    let Some(helm) = crate::support::helm("helm::values_ferrolb_cannot_honour_fail_rendering") else {
        return;
    };
    let chart = chart();
    let chart = chart.to_str().unwrap();
    for (set, says) in [
        (
            "speaker.frr.enabled=true",
            "speaker.frr.enabled=true: ferrolb speaks BGP itself and never runs FRR",
        ),
        ("frrk8s.enabled=true", "frrk8s.enabled=true: ferrolb speaks BGP itself"),
        ("speaker.memberlist.enabled=false", "ferrolb's speakers always gossip"),
        ("tls.minVersion=VersionTLS12", "ferrolb serves TLS 1.3 only"),
        ("tls.cipherSuites=TLS_AES_128_GCM_SHA256", "tls.cipherSuites: ferrolb serves TLS 1.3 only"),
        ("prometheus.podMonitor.enabled=true", "use prometheus.serviceMonitor.enabled=true"),
        (
            "prometheus.serviceMonitor.enabled=true",
            "prometheus.serviceAccount must be defined when prometheus.serviceMonitor.enabled and prometheus.rbacPrometheus are true",
        ),
        ("controller.logLevel=verbose", "/controller/logLevel': value must be one of 'all'"),
        ("tls.webhookSecret=x", "additional properties 'webhookSecret' not allowed"),
        ("speaker.frr.image.tag=10.5.3", "additional properties 'image' not allowed"),
        ("controller.webhookMode=enabled", "additional properties 'webhookMode' not allowed"),
    ] {
        match run(&helm, &["template", "ferrolb", chart, "--set", set]) {
            Ok(_) => panic!("helm template --set {set} rendered"),
            Err(e) => assert!(e.contains(says), "--set {set}: expected {says:?} in:\n{e}"),
        }
    }
    // And with speaker.frr.enabled false, as MetalLB's default, it renders;
    // ServiceMonitors without rbacPrometheus need no Prometheus named.
    for set in [
        "speaker.frr.enabled=false",
        "prometheus.serviceMonitor.enabled=true,prometheus.rbacPrometheus=false",
    ] {
        run(&helm, &["template", "ferrolb", chart, "--set", set]).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// What the chart renders is accepted by kube-apiserver: with the default
/// values (release `helmdefault` in a namespace of its own: its ClusterRoles
/// do not replace deploy/'s), and with [`CUSTOM_VALUES`] (ServiceMonitors and
/// a PrometheusRule, applied against the Prometheus Operator's own CRDs from
/// its Go module); every object is then there.
pub fn rendered_manifests_apply_to_the_api_server(cluster: &Cluster) {
    let Some(helm) = crate::support::helm("helm::rendered_manifests_apply_to_the_api_server") else { return };
    let mut cleanup = Cleanup::new(cluster);
    let operator_crds = match go_tools_path("FERROLB_PROMETHEUS_OPERATOR_SRC") {
        Some(src) => src.join("example/prometheus-operator-crd"),
        None => panic!("the Prometheus Operator's module source is not there: run scripts/go-tools helm"),
    };
    for kind in ["servicemonitors", "prometheusrules"] {
        let file = operator_crds.join(format!("monitoring.coreos.com_{kind}.yaml"));
        let file = file.to_str().unwrap();
        cluster.kubectl(&["apply", "--server-side", "-f", file]);
        cleanup.delete(&["-f", file]);
        cluster.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/{kind}.monitoring.coreos.com"),
        ]);
    }
    let values = scratch_file(cluster, "helm-custom-values.yaml", CUSTOM_VALUES);
    for (release, extra) in
        [("helmdefault", vec![]), ("helmcustom", vec!["--values", values.to_str().unwrap()])]
    {
        let namespace = cluster.namespace(release);
        cleanup.delete(&["namespace", &namespace]);
        let chart = chart();
        let mut args = vec!["template", release, chart.to_str().unwrap(), "--namespace", &namespace];
        args.extend(extra);
        let manifest = run(&helm, &args).unwrap_or_else(|e| panic!("{e}"));
        let objects = parse_documents(&manifest);
        for object in &objects {
            let kind = object["kind"].as_str().unwrap();
            if ["ClusterRole", "ClusterRoleBinding"].contains(&kind) {
                cleanup.delete(&[&kind.to_lowercase(), object["metadata"]["name"].as_str().unwrap()]);
            }
        }
        let file = scratch_file(cluster, &format!("{release}.yaml"), &manifest);
        let file = file.to_str().unwrap();
        if let Err(refusal) = cluster.try_apply(&manifest) {
            panic!("the API server refuses what helm template {release} renders:\n{refusal}");
        }
        let stored = cluster.kubectl_json(&["get", "-f", file]);
        let stored: Vec<String> = stored["items"].as_array().expect("a List").iter().map(key).collect();
        let expected: Vec<String> = objects.iter().map(key).collect();
        assert_eq!(stored, expected, "{release}: not every object is there");
        let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        for kind in ["Deployment", "DaemonSet", "ClusterRole", "Role", "ServiceAccount"] {
            assert!(kinds.contains(&kind), "{release} renders no {kind}");
        }
        if release == "helmcustom" {
            assert!(kinds.contains(&"ServiceMonitor") && kinds.contains(&"PrometheusRule"), "{kinds:?}");
        } else {
            assert_eq!(kinds.iter().filter(|k| **k == "CustomResourceDefinition").count(), 9);
        }
    }
    helm_install_and_uninstall(cluster, &helm);
}

/// `helm install` itself, as deploy/README.md says: over CRDs it does not own
/// (here deploy/ferrolb.yaml's) Helm refuses to install them, and with
/// crds.enabled=false it installs the rest; `helm uninstall` removes it.
fn helm_install_and_uninstall(cluster: &Cluster, helm: &Path) {
    let namespace = cluster.namespace("helminstall");
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&["namespace", &namespace]);
    let kubeconfig = cluster.plane().admin_kubeconfig().to_owned();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let chart = chart();
    let install = |extra: &[&str]| {
        let mut args = vec!["install", "helminstall", chart.to_str().unwrap(), "--namespace", &namespace];
        args.extend(["--kubeconfig", kubeconfig]);
        args.extend(extra);
        run(helm, &args)
    };
    match install(&[]) {
        Ok(printed) => panic!("helm install took over CRDs it does not own:\n{printed}"),
        Err(e) => assert!(e.contains("invalid ownership metadata"), "{e}"),
    }
    install(&["--set", "crds.enabled=false"]).unwrap_or_else(|e| panic!("{e}"));
    let status =
        run(helm, &["status", "helminstall", "-n", &namespace, "--kubeconfig", kubeconfig, "-o", "json"]);
    let status: Value = serde_json::from_str(&status.unwrap_or_else(|e| panic!("{e}"))).expect("JSON");
    assert_eq!(status["info"]["status"], "deployed", "{status}");
    cluster.kubectl(&["get", "-n", &namespace, "deployment/helminstall-ferrolb-controller"]);
    cluster.kubectl(&["get", "clusterrole/helminstall-ferrolb-speaker"]);
    run(helm, &["uninstall", "helminstall", "-n", &namespace, "--kubeconfig", kubeconfig])
        .unwrap_or_else(|e| panic!("{e}"));
    let left = cluster.kubectl(&["get", "clusterrole", "-o", "name"]);
    assert!(!left.contains("helminstall"), "helm uninstall left {left}");
}
