//! serde forms shared by the model and the native TOML dialect: durations
//! as seconds (an integer, or a decimal with microsecond resolution, as
//! keepalived's `<TIMER>`), any `Display`/`FromStr` type as a string, and
//! read as an integer or a string ([`int_or_str`]).

use std::fmt::{self, Display};
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// The longest duration a configuration may give (a year): keeps every
/// value exactly representable in microseconds as an f64.
pub const DURATION_MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// `text` as keepalived reads a `<TIMER>`: seconds, decimal fractions
/// allowed, rounded to the microsecond. `None` if it is not a non-negative
/// number up to [`DURATION_MAX`].
pub fn parse_timer(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Microseconds from the first seven fraction digits, rounded.
    let digits: Vec<u32> = frac.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut micros: u64 = 0;
    for i in 0..6 {
        micros = micros * 10 + u64::from(digits.get(i).copied().unwrap_or(0));
    }
    if digits.get(6).is_some_and(|&d| d >= 5) {
        micros += 1;
    }
    let d = Duration::from_secs(secs).checked_add(Duration::from_micros(micros))?;
    (d <= DURATION_MAX).then_some(d)
}

/// `d` in seconds as keepalived would write it: `6`, `2.5`, `0.000001`.
pub fn timer_text(d: Duration) -> String {
    let micros = d.subsec_micros();
    if micros == 0 {
        d.as_secs().to_string()
    } else {
        let frac = format!("{micros:06}");
        format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
    }
}

fn duration_from_f64<E: de::Error>(v: f64) -> Result<Duration, E> {
    if !v.is_finite() || v < 0.0 || v > DURATION_MAX.as_secs_f64() {
        return Err(E::custom(format!(
            "{v} is not a duration in seconds (0..{})",
            DURATION_MAX.as_secs()
        )));
    }
    // The f64 nearest to a whole number of microseconds maps back to it.
    Ok(Duration::from_micros((v * 1e6).round() as u64))
}

struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration in seconds (an integer or a decimal)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
        self.visit_u64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        let d = Duration::from_secs(v);
        if d > DURATION_MAX {
            return Err(E::custom(format!(
                "{v} s is longer than {} s",
                DURATION_MAX.as_secs()
            )));
        }
        Ok(d)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        duration_from_f64(v)
    }
}

/// A `Duration` as seconds: an integer when whole, else a decimal.
pub mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_micros() == 0 {
            s.serialize_u64(d.as_secs())
        } else {
            s.serialize_f64(d.as_micros() as f64 / 1e6)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(SecondsVisitor)
    }
}

/// An `Option<Duration>` as seconds; use with `default` (a `with` field is
/// not optional by itself) in a `#[serde_with::skip_serializing_none]`
/// struct, or with `skip_serializing_if = "Option::is_none"`.
pub mod secs_opt {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => secs::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        secs::deserialize(d).map(Some)
    }
}

/// Any `Display + FromStr` value as a string.
pub mod as_str {
    use super::*;

    pub fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// An `Option` of a `Display + FromStr` value as a string; use as
/// [`secs_opt`].
pub mod as_str_opt {
    use super::*;

    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        as_str::deserialize(d).map(Some)
    }
}

/// A `Vec` of `Display + FromStr` values as an array of strings.
pub mod as_str_vec {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for item in v {
            seq.serialize_element(&item.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| t.parse().map_err(de::Error::custom))
            .collect()
    }
}

/// A `FromStr` value written as an integer or a string (`64` or
/// `"255.255.255.0"`, `200` or `"300-399"`): an integer parses as its
/// decimal text. `expecting` names the forms in a type error.
pub fn int_or_str<'de, T, D>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: Deserializer<'de>,
{
    struct IntOrStr<T>(&'static str, PhantomData<T>);

    impl<T: FromStr> Visitor<'_> for IntOrStr<T>
    where
        T::Err: Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }

    d.deserialize_any(IntOrStr(expecting, PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_parse_like_keepalived() {
        assert_eq!(parse_timer("6"), Some(Duration::from_secs(6)));
        assert_eq!(parse_timer("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_timer(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timer("1.0000004"), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_timer("1.0000005"),
            Some(Duration::from_micros(1_000_001))
        );
        for bad in ["", ".", "-1", "1e3", "x", "1.2.3", "99999999999"] {
            assert_eq!(parse_timer(bad), None, "{bad}");
        }
        assert_eq!(timer_text(Duration::from_micros(2_500_000)), "2.5");
        assert_eq!(timer_text(Duration::from_micros(1)), "0.000001");
        assert_eq!(timer_text(Duration::from_secs(60)), "60");
    }
}
