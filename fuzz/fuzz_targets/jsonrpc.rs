//! The JSON-RPC envelope parser every client and backend message goes through first, and the
//! params splitter the router uses to rewrite a tool name. Beyond "never panics": what
//! `parse` accepts must frame back into valid JSON, because the gateway copies those raw
//! pieces into the messages it sends on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use vmcp_gateway::jsonrpc::{self, Message};

/// Valid JSON text. Checked as a raw value, not a `Value`: JSON has no range limit on numbers,
/// and `-3E601` (valid, beyond f64) is copied through by the gateway as it came.
fn is_json(s: &str) -> bool {
    serde_json::from_str::<&RawValue>(s).is_ok()
}

fn check_members(raw: &RawValue) {
    let Ok(members) = jsonrpc::object_members(raw) else {
        return;
    };
    // Rewriting one member and copying the rest verbatim keeps the object valid JSON.
    let name = jsonrpc::string_value("fuzz");
    let rewritten = jsonrpc::with_member(&members, "name", &name);
    assert!(
        is_json(rewritten.get()),
        "with_member broke {:?}",
        raw.get()
    );
    let back = jsonrpc::object_members(&rewritten).expect("a rewritten object splits again");
    assert_eq!(
        jsonrpc::string_member(&back, "name").as_deref(),
        Some("fuzz"),
        "rewritten name lost in {:?}",
        rewritten.get()
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = serde_json::from_slice::<&RawValue>(data) {
        check_members(raw);
    }
    let Ok(msg) = jsonrpc::parse(data) else {
        return;
    };
    match msg {
        Message::Request { id, params, .. } => {
            let ok = jsonrpc::response_ok(id, &jsonrpc::empty_object());
            assert!(is_json(&ok), "response_ok with id {:?}", id.get());
            let err = jsonrpc::response_error(Some(id), -32600, "fuzz \"quoted\" \u{1}");
            assert!(is_json(&err), "response_error with id {:?}", id.get());
            if let Some(p) = params {
                check_members(p);
                let req = jsonrpc::request(7, "tools/call", Some(p));
                assert!(is_json(&req), "request with params {:?}", p.get());
            }
        }
        Message::Notification { params, .. } => {
            if let Some(p) = params {
                check_members(p);
            }
        }
        Message::Response { id, outcome } => {
            let text = match outcome {
                Ok(r) => jsonrpc::response_ok(id, r),
                Err(e) => jsonrpc::response_raw_error(id, e),
            };
            assert!(is_json(&text), "relayed response {text:?}");
        }
    }
});
