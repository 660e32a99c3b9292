//! The configuration loader takes any bytes a user or an API server hands it:
//! it must report problems, never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (snapshot, _diagnostics) = ferrolb_api::load::load_str("fuzz.yaml", text);
        let _ = ferrolb_api::validate::validate(&snapshot);
    }
});
