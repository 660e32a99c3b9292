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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Long strings (CEL rules, descriptions) come out folded over several
    /// lines; read back, every CRD is what the types say, to the character.
    #[test]
    fn printed_yaml_reads_back_as_the_crds() {
        let yaml = super::render().unwrap();
        let (documents, error) = ferrolb_api::yaml::parse_documents(&yaml);
        assert_eq!(error, None);
        let read: Vec<Value> =
            documents.iter().map(|d| ferrolb_api::yaml::de::from_node::<Value>(d, &[]).unwrap().0).collect();
        assert_eq!(Value::from(read), serde_json::to_value(ferrolb_api::crds::all()).unwrap());
    }
}
