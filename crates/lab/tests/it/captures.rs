//! The captured BGP messages in `crates/bgp/testdata` are whole, well-framed messages whose
//! type matches their file name (a guard on the capture program; the codec decodes them).

use std::path::Path;

fn type_name(t: u8) -> &'static str {
    match t {
        1 => "open",
        2 => "update",
        3 => "notification",
        4 => "keepalive",
        5 => "route-refresh",
        _ => "unknown",
    }
}

#[test]
fn every_capture_is_one_framed_message_of_the_type_in_its_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bgp/testdata");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        eprintln!("SKIPPED: no {}", root.display());
        return;
    };
    let mut seen = 0;
    for dir in dirs.map(|d| d.unwrap().path()).filter(|p| p.is_dir()) {
        let mut kinds = Vec::new();
        for file in std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()) {
            if file.extension().is_none_or(|e| e != "bin") {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(bytes.len() >= 19, "{}: shorter than a BGP header", file.display());
            assert_eq!(bytes[..16], [0xff; 16], "{}: marker", file.display());
            assert_eq!(
                usize::from(u16::from_be_bytes([bytes[16], bytes[17]])),
                bytes.len(),
                "{}: length",
                file.display()
            );
            let kind = type_name(bytes[18]);
            assert_eq!(name.split_once('-').map(|(_, k)| k), Some(kind), "{}: type", file.display());
            kinds.push(kind);
            seen += 1;
        }
        for needed in ["open", "keepalive", "update", "notification"] {
            assert!(kinds.contains(&needed), "{}: no {needed} captured", dir.display());
        }
    }
    assert!(seen > 0, "no captures under {}", root.display());
}
