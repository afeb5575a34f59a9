//! vmcp-testenv (placeholder; filled by its issue).
