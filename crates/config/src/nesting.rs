//! A cheap pre-parse guard against deeply nested flow collections (`[[[[...` or `{a: {b: ...`),
//! used for config files and manifests alike (through `crate::input`).
//!
//! The YAML scanner underneath serde_norway (libyaml) does work proportional to the current
//! flow nesting depth for every token, so a document of nothing but `[` costs time quadratic in
//! its size: 100 KB already takes tens of seconds. Real configs nest a handful of levels, and
//! serde_norway refuses more than 128 levels anyway, so this linear scan rejects anything nested
//! deeper than [`MAX_FLOW_DEPTH`] before the parser sees it.
//!
//! The scan approximates YAML's lexical rules: it skips quoted scalars and comments, and at the
//! top (block) level counts a bracket only where a flow collection can start (after whitespace
//! or at the start of a line), not inside a plain scalar such as `^[a-z]`. It can undercount in
//! contrived inputs (then the parser is merely slow); it overcounts only when text holds more
//! than [`MAX_FLOW_DEPTH`] unbalanced opening brackets, which no real config does.

/// Deepest flow-collection nesting accepted (serde_norway's own recursion limit).
pub const MAX_FLOW_DEPTH: usize = 128;

/// Returns the 1-based line and column of the first bracket nested deeper than the limit.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    enum State {
        Normal,
        Single,
        Double,
        Comment,
    }
    let bytes = text.as_bytes();
    let mut state = State::Normal;
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut line_start = 0usize;
    // The previous byte, with line starts seen as a newline.
    let mut prev = b'\n';
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match state {
            State::Comment => {
                if c == b'\n' {
                    state = State::Normal;
                }
            }
            State::Single => {
                if c == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 1; // '' is an escaped quote
                    } else {
                        state = State::Normal;
                    }
                }
            }
            State::Double => {
                if c == b'\\' {
                    i += 1; // skip the escaped byte; an escaped newline is counted below
                } else if c == b'"' {
                    state = State::Normal;
                }
            }
            State::Normal => {
                let token_start = matches!(prev, b' ' | b'\t' | b'\n' | b'\r')
                    || (depth > 0 && matches!(prev, b'[' | b'{' | b',' | b':'));
                match c {
                    b'#' if matches!(prev, b' ' | b'\t' | b'\n' | b'\r') => state = State::Comment,
                    b'\'' if token_start => state = State::Single,
                    b'"' if token_start => state = State::Double,
                    b'[' | b'{' if depth > 0 || token_start => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            let column = text[line_start..i].chars().count() + 1;
                            return Some((line, column));
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        if bytes.get(i) == Some(&b'\n') {
            line += 1;
            line_start = i + 1;
        }
        prev = bytes.get(i).copied().unwrap_or(b'\n');
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_deep_flow_nesting() {
        let deep = format!("a: {}", "[".repeat(MAX_FLOW_DEPTH + 1));
        assert_eq!(too_deep(&deep), Some((1, 4 + MAX_FLOW_DEPTH)));
        let deep_map = format!("a:\n  b: {}1", "{c: ".repeat(MAX_FLOW_DEPTH + 1));
        assert!(too_deep(&deep_map).is_some());
        let at_limit = format!(
            "a: {}1{}",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(too_deep(&at_limit), None);
    }

    #[test]
    fn ignores_brackets_in_scalars_and_comments() {
        let many = "[".repeat(MAX_FLOW_DEPTH * 2);
        for text in [
            format!("a: '{many}'"),
            format!("a: \"{many}\""),
            format!("a: x{many}"),
            format!("a: 1 # {many}"),
            format!("a: [\"{many}\", 'it''s {many}']"),
            format!("a: \"esc \\\" {many}\""),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
    }

    #[test]
    fn positions_count_lines_inside_quoted_scalars() {
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        let text = format!("a: \"multi\n line \\\n escaped\"\nb: 'x\n y'\nc: {deep}");
        assert_eq!(too_deep(&text), Some((6, 4 + MAX_FLOW_DEPTH)));
    }

    #[test]
    fn balanced_documents_pass() {
        let line = "- {name: a, url: 'http://a', tags: [x, y]}\n";
        assert_eq!(
            too_deep(&format!("backends:\n{}", line.repeat(10_000))),
            None
        );
    }
}
