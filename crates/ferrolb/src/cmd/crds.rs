//! `ferrolb crds`: the CustomResourceDefinitions, as one YAML stream.

use std::process::ExitCode;

/// Prints every CRD as a YAML document.
pub fn run() -> anyhow::Result<ExitCode> {
    print!("{}", render()?);
    Ok(ExitCode::SUCCESS)
}

/// Every CRD as YAML documents separated by `---`.
pub fn render() -> anyhow::Result<String> {
    let mut out = String::new();
    for crd in ferrolb_api::crds::all() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
