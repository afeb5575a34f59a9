//! The manifest reader of `vmcp render`: multi-document YAML, classified by apiVersion and
//! kind, each document checked the way the API server's admission would.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vmcp_api::manifest::parse_manifests(text, "fuzz.yaml");
});
