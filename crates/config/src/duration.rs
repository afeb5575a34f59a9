//! Durations written the way Go writes them.
//!
//! ToolHive stores every duration in its config as a Go `time.Duration` string (`30s`, `1m0s`,
//! `1.5s`) and the operator emits them with `Duration.String()`. This module parses exactly the
//! language of ToolHive's CRD pattern (so a value accepted by the API server is accepted here and
//! the other way round) and formats exactly like Go, so a ConfigMap we write reads the same to a
//! Go consumer and to a human comparing it with ToolHive's output.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The validation pattern ToolHive puts on duration fields of its CRDs.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// Largest value a Go `time.Duration` can hold, in nanoseconds (`1<<63 - 1`).
const MAX_NANOS: u128 = i64::MAX as u128;
/// Go's intermediate overflow bound while parsing (`1<<63`).
const GO_OVERFLOW: u128 = 1 << 63;

/// A non-negative duration that reads and writes Go's `time.Duration` string form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("duration is empty")]
    Empty,
    #[error("negative duration {0:?} is not allowed")]
    Negative(String),
    #[error("duration {0:?} has a number without a unit (use ns, us, µs, ms, s, m or h)")]
    MissingUnit(String),
    #[error("duration {input:?} has unknown unit {unit:?} (use ns, us, µs, ms, s, m or h)")]
    UnknownUnit { input: String, unit: String },
    #[error("invalid duration {0:?} (expected e.g. 30s, 1m30s, 1.5h, 500ms)")]
    Invalid(String),
    #[error("duration {0:?} is too large (the maximum is 2562047h47m16.854775807s)")]
    Overflow(String),
}

impl GoDuration {
    pub const ZERO: GoDuration = GoDuration(Duration::ZERO);

    pub const fn from_secs(secs: u64) -> Self {
        GoDuration(Duration::from_secs(secs))
    }

    pub const fn from_millis(millis: u64) -> Self {
        GoDuration(Duration::from_millis(millis))
    }

    pub const fn as_std(self) -> Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses a Go-style duration such as `1h2m3.5s`.
    ///
    /// The accepted language is ToolHive's [`DURATION_PATTERN`] (Greek `μ` is also taken for
    /// micro, as Go does). Fractions are truncated to whole nanoseconds and values beyond Go's
    /// `time.Duration` range are refused rather than wrapped.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        parse_go_duration(input).map(|nanos| GoDuration(nanos_to_duration(nanos)))
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        GoDuration(d)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GoDuration::parse(s)
    }
}

fn nanos_to_duration(nanos: u128) -> Duration {
    // nanos <= i64::MAX, so both parts fit.
    Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    )
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

fn parse_go_duration(input: &str) -> Result<u128, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    if input.starts_with('-') {
        return Err(DurationError::Negative(input.to_owned()));
    }
    let bytes = input.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    let overflow = || DurationError::Overflow(input.to_owned());
    let invalid = || DurationError::Invalid(input.to_owned());

    while i < bytes.len() {
        // Integer part: at least one digit.
        let int_start = i;
        let mut whole: u128 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            whole = whole * 10 + u128::from(bytes[i] - b'0');
            if whole > GO_OVERFLOW {
                return Err(overflow());
            }
            i += 1;
        }
        if i == int_start {
            return Err(invalid());
        }
        // Optional fraction: a dot followed by at least one digit. Like Go, digits that would
        // overflow an int64 accumulator are dropped (they are far below a nanosecond).
        let mut frac: u128 = 0;
        let mut scale: f64 = 1.0;
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac_start = i;
            let mut saturated = false;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                if !saturated {
                    if frac > MAX_NANOS / 10 {
                        saturated = true;
                    } else {
                        let next = frac * 10 + u128::from(bytes[i] - b'0');
                        if next > GO_OVERFLOW {
                            saturated = true;
                        } else {
                            frac = next;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            if i == frac_start {
                return Err(invalid());
            }
        }
        // Unit: everything up to the next digit or dot.
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b'.' {
            i += 1;
        }
        if i == unit_start {
            return Err(if i < bytes.len() {
                invalid() // a second dot, as in "1.5.5s"
            } else {
                DurationError::MissingUnit(input.to_owned())
            });
        }
        // unit_start and i sit on ASCII digit/dot positions or the end of the string, so the
        // slice is on char boundaries.
        let unit = &input[unit_start..i];
        let Some(per_unit) = unit_nanos(unit) else {
            return Err(DurationError::UnknownUnit {
                input: input.to_owned(),
                unit: unit.to_owned(),
            });
        };
        if whole > GO_OVERFLOW / per_unit {
            return Err(overflow());
        }
        let mut value = whole * per_unit;
        if frac > 0 {
            // Go computes the fractional part in float64; doing the same keeps results
            // bit-identical for inputs with many fraction digits.
            value += (frac as f64 * (per_unit as f64 / scale)) as u128;
            if value > GO_OVERFLOW {
                return Err(overflow());
            }
        }
        total += value;
        if total > GO_OVERFLOW {
            return Err(overflow());
        }
    }
    if total > MAX_NANOS {
        return Err(overflow());
    }
    Ok(total)
}

/// Writes `digits` fractional digits of `v` (omitting trailing zeros, and the dot when all are
/// zero) and returns the integer part, as Go's `fmtFrac` does.
fn push_frac(out: &mut Vec<u8>, mut v: u128, digits: u32) -> u128 {
    let mut printed = false;
    for _ in 0..digits {
        let digit = (v % 10) as u8;
        printed = printed || digit != 0;
        if printed {
            out.push(b'0' + digit);
        }
        v /= 10;
    }
    if printed {
        out.push(b'.');
    }
    v
}

fn push_int(out: &mut Vec<u8>, mut v: u128) {
    if v == 0 {
        out.push(b'0');
        return;
    }
    while v > 0 {
        out.push(b'0' + (v % 10) as u8);
        v /= 10;
    }
}

/// Formats like Go's `time.Duration.String()`: `0s`, `1.5µs`, `100ms`, `1m0s`, `2h3m4.5s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    // Built back to front, then reversed, like Go's buffer.
    let mut rev: Vec<u8> = Vec::with_capacity(32);
    if nanos < 1_000_000_000 {
        let (unit, digits): (&str, u32) = if nanos < 1_000 {
            ("ns", 0)
        } else if nanos < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        rev.extend(unit.bytes().rev());
        let whole = push_frac(&mut rev, nanos, digits);
        push_int(&mut rev, whole);
    } else {
        rev.push(b's');
        let mut secs = push_frac(&mut rev, nanos, 9);
        push_int(&mut rev, secs % 60);
        secs /= 60;
        if secs > 0 {
            rev.push(b'm');
            push_int(&mut rev, secs % 60);
            secs /= 60;
            if secs > 0 {
                rev.push(b'h');
                push_int(&mut rev, secs);
            }
        }
    }
    rev.reverse();
    // Only ASCII and whole UTF-8 sequences (reversed twice) were written.
    String::from_utf8(rev).unwrap_or_default()
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoDuration({self})")
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_go_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\" or \"1m30s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GoDuration, E> {
                GoDuration::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for GoDuration {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn formats_like_go() {
        // Expected strings are what Go's time.Duration.String() prints.
        let cases: &[(Duration, &str)] = &[
            (ns(0), "0s"),
            (ns(1), "1ns"),
            (ns(1_100), "1.1µs"),
            (ns(2_200_000), "2.2ms"),
            (ns(100_000_000), "100ms"),
            (ns(3_300_000_000), "3.3s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (ns(4 * 60_000_000_000 + 5_000_000_000), "4m5s"),
            (ns(4 * 60_000_000_000 + 5_001_000_000), "4m5.001s"),
            (
                ns(5 * 3_600_000_000_000 + 6 * 60_000_000_000 + 7_001_000_000),
                "5h6m7.001s",
            ),
            (ns(8 * 3_600_000_000_000 + 1), "8h0m0.000000001s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (ns(i64::MAX as u64), "2562047h47m16.854775807s"),
            (ns(999), "999ns"),
            (ns(1_000), "1µs"),
            (ns(999_999_999), "999.999999ms"),
        ];
        for (d, want) in cases {
            assert_eq!(format_go_duration(*d), *want, "formatting {d:?}");
        }
    }

    #[test]
    fn parses_like_go() {
        let cases: &[(&str, u64)] = &[
            ("0s", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("1.5s", 1_500_000_000),
            ("1.004s", 1_004_000_000),
            ("1.0040s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("1m0s", 60_000_000_000),
            ("1h2m", 3_720_000_000_000),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", 9_223_372_036_854_775_807),
            ("9223372036854775.807us", 9_223_372_036_854_775_807),
            ("9223372036s854ms775us807ns", 9_223_372_036_854_775_807),
            ("0.100000000000000000000h", 360_000_000_000),
            ("0.830103483285477580700h", 2_988_372_539_827),
        ];
        for (s, want) in cases {
            let got = GoDuration::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(got.0, ns(*want), "parsing {s}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(GoDuration::parse(""), Err(DurationError::Empty));
        assert!(matches!(
            GoDuration::parse("-5s"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            GoDuration::parse("30"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            GoDuration::parse("0"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            GoDuration::parse("1s5"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            GoDuration::parse("1.5.5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            GoDuration::parse("3d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            GoDuration::parse("3 s"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            GoDuration::parse("s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            GoDuration::parse(".5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            GoDuration::parse("1.s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            GoDuration::parse("+5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            GoDuration::parse("9223372036854775808ns"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            GoDuration::parse("9223372036854775.808us"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            GoDuration::parse("3000000h"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            GoDuration::parse("2562047h47m16.854775808s"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            GoDuration::parse("99999999999999999999999999999999999999999999s"),
            Err(DurationError::Overflow(_))
        ));
        assert!(GoDuration::parse("1h1h1h1h").is_ok());
    }

    #[test]
    fn round_trips_through_serde() {
        let d: GoDuration = serde_json::from_str("\"60s\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1m0s\"");
        let err = serde_json::from_str::<GoDuration>("30")
            .unwrap_err()
            .to_string();
        assert!(err.contains("duration string"), "{err}");
        let err = serde_json::from_str::<GoDuration>("\"30\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("without a unit"), "{err}");
    }

    #[test]
    fn every_formatted_value_parses_back() {
        for n in [
            1u64,
            999,
            1_000,
            1_500,
            999_999,
            1_000_001,
            59_999_999_999,
            3_600_000_000_001,
        ] {
            let s = format_go_duration(ns(n));
            assert_eq!(GoDuration::parse(&s).unwrap().0, ns(n), "{s}");
        }
    }

    #[test]
    fn schema_is_a_patterned_string() {
        let schema = schemars::schema_for!(GoDuration);
        let v = schema.as_value();
        assert_eq!(v["type"], "string");
        assert_eq!(v["pattern"], DURATION_PATTERN);
    }
}
