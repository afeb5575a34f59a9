//! The gateway's config loader: strict parsing, the checking parse of `vmcp validate`, and
//! validation with defaults. A config that parses must also survive the operator's side of
//! the contract: serialised back to YAML, the gateway parses it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmcp_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((cfg, _report)) = Config::check_yaml_str(text) {
        let _ = cfg.with_defaults().validate();
    }
    let Ok(cfg) = Config::from_yaml_str(text) else {
        return;
    };
    let report = cfg.clone().with_defaults().validate();
    let _ = report.has_errors();
    if let Ok(yaml) = cfg.to_yaml_string() {
        if let Err(e) = Config::from_yaml_str(&yaml) {
            panic!("a parsed config does not parse after writing it back: {e}\n---\n{yaml}");
        }
    }
});
