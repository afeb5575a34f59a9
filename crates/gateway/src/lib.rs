//! vmcp-gateway (placeholder; filled by its issue).
