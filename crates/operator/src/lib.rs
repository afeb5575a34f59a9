//! vmcp-operator (placeholder; filled by its issue).
