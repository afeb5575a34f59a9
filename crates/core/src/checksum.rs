//! The rollout trigger: a checksum over everything that, when changed, must restart the
//! gateway pods, written as a pod-template annotation.
//!
//! It covers the ConfigMap content, the names, keys and `resourceVersion`s of referenced
//! Secrets (not their values: the operator never keeps them; the version is what makes a
//! rotated Secret roll the pods, whose env the kubelet fills only at start) and the content of mounted CA bundles (so rotating a
//! CA restarts the gateway, whose TLS clients are built at start-up). An unchanged world gives
//! the same checksum, so nothing rolls.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// First 8 hex characters of SHA-256, for name suffixes.
pub fn short_hash(s: &str) -> String {
    sha256_hex(s).chars().take(8).collect()
}

/// Accumulates labelled parts; each part is length-prefixed so no two inputs collide.
#[derive(Default)]
pub struct Checksum {
    hasher: Sha256,
}

impl Checksum {
    pub fn part(&mut self, label: &str, value: &str) -> &mut Self {
        for s in [label, value] {
            self.hasher.update((s.len() as u64).to_be_bytes());
            self.hasher.update(s.as_bytes());
        }
        self
    }

    pub fn finish(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
