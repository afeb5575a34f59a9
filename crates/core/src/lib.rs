//! The pure core the operator and the gateway's dynamic discovery share: the snapshot of
//! inputs ([`world`]), which group members are backends ([`discovery`]), the URL guard
//! ([`url`]), and what a backend becomes in the gateway config — its entry ([`backend`]), CA
//! bundle ([`ca_bundles`]), header metadata ([`headers`]) and outgoing auth ([`auth`]); and
//! the back-off policy of every watch ([`watch`]).
//!
//! No API calls, no kube-runtime: both processes read the cluster their own way (the operator's
//! controllers, the gateway's watches), build a [`world::World`], and derive the same backends
//! from it with these functions, so static and dynamic mode cannot drift apart.
#![forbid(unsafe_code)]

pub mod auth;
pub mod backend;
pub mod ca_bundles;
pub mod checksum;
pub mod discovery;
pub mod headers;
pub mod url;
pub mod watch;
pub mod world;

/// Turns any text into an environment-variable fragment: upper case, `[A-Z0-9_]` only.
pub fn env_fragment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_fragments_are_upper_case_alphanumerics_and_underscores() {
        assert_eq!(super::env_fragment("ctx7-exchange.v2"), "CTX7_EXCHANGE_V2");
    }
}
