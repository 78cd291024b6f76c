//! Parsing of command options that need more than a word: durations and `log show` filters.

use alloc::string::String;
use core::fmt;

/// Parses a duration like `30`, `30s`, `5m`, `2h`, `1d` into seconds.
pub fn parse_duration_s(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().ok()?;
    let scale = match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    value.checked_mul(scale)
}

/// Which boot `--boot` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootChoice {
    /// A boot number.
    Number(u32),
    /// Relative: 0 this boot, -1 the previous one.
    Relative(i32),
}

impl BootChoice {
    /// The value of a `--boot` option: a boot number, or 0 or a negative number counting back
    /// from this boot (`-1` is the previous one).
    pub fn parse(value: &str) -> Option<BootChoice> {
        if value.starts_with('-') || value == "0" {
            value.parse().ok().map(BootChoice::Relative)
        } else {
            value.parse().ok().map(BootChoice::Number)
        }
    }

    /// The boot number this choice names, given the current boot's; `None` before boot 1.
    pub fn resolve(self, current_boot: u32) -> Option<u32> {
        match self {
            BootChoice::Number(n) => Some(n),
            BootChoice::Relative(r) => {
                u32::try_from(i64::from(current_boot) + i64::from(r)).ok().filter(|&n| n >= 1)
            }
        }
    }
}

/// A minimum severity for `--level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LevelChoice {
    Error,
    Warn,
    Info,
    Debug,
}

/// The options of `log show`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogShowOptions {
    pub boot: Option<BootChoice>,
    pub level: Option<LevelChoice>,
    pub grep: Option<String>,
    /// Leave out records containing this text.
    pub exclude: Option<String>,
    /// Show at most this many (newest) records; `None` with `all` set means every record.
    pub tail: Option<usize>,
    /// Show at most this many of the oldest records instead (`tail` is then `None`).
    pub head: Option<usize>,
    pub all: bool,
    pub since_s: Option<u64>,
}

/// Default number of records `log show` prints without `--tail` or `--all`.
pub const DEFAULT_TAIL: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    MissingValue(&'static str),
    BadValue {
        option: &'static str,
        value: String,
    },
    Unknown(String),
    /// Two options that cannot be used together.
    Conflict(&'static str, &'static str),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingValue(option) => write!(f, "{option} needs a value"),
            Self::BadValue { option, value } => write!(f, "{value:?} is not a valid value for {option}"),
            Self::Unknown(option) => write!(f, "unknown option {option:?}"),
            Self::Conflict(a, b) => write!(f, "{a} and {b} cannot be used together"),
        }
    }
}

impl LogShowOptions {
    pub fn parse(args: &[&str]) -> Result<LogShowOptions, OptionError> {
        let mut options = LogShowOptions::default();
        let mut iter = args.iter();
        let bad =
            |option: &'static str, value: &str| OptionError::BadValue { option, value: String::from(value) };
        while let Some(&arg) = iter.next() {
            let mut value =
                |option: &'static str| iter.next().copied().ok_or(OptionError::MissingValue(option));
            match arg {
                "--boot" => {
                    let v = value("--boot")?;
                    options.boot = Some(BootChoice::parse(v).ok_or_else(|| bad("--boot", v))?);
                }
                "--level" => {
                    let v = value("--level")?;
                    options.level = Some(match v {
                        "error" | "err" => LevelChoice::Error,
                        "warn" | "warning" => LevelChoice::Warn,
                        "info" => LevelChoice::Info,
                        "debug" => LevelChoice::Debug,
                        _ => return Err(bad("--level", v)),
                    });
                }
                "--grep" => options.grep = Some(String::from(value("--grep")?)),
                "--exclude" => options.exclude = Some(String::from(value("--exclude")?)),
                "--tail" => {
                    let v = value("--tail")?;
                    options.tail = Some(v.parse().map_err(|_| bad("--tail", v))?);
                }
                "--since" => {
                    let v = value("--since")?;
                    options.since_s = Some(parse_duration_s(v).ok_or_else(|| bad("--since", v))?);
                }
                "--head" => {
                    let v = value("--head")?;
                    options.head = Some(v.parse().map_err(|_| bad("--head", v))?);
                }
                "--all" => options.all = true,
                other => return Err(OptionError::Unknown(String::from(other))),
            }
        }
        match (options.head.is_some(), options.tail.is_some(), options.all) {
            (true, true, _) => return Err(OptionError::Conflict("--head", "--tail")),
            (true, _, true) => return Err(OptionError::Conflict("--head", "--all")),
            _ => {}
        }
        if options.tail.is_none() && options.head.is_none() && !options.all {
            options.tail = Some(DEFAULT_TAIL);
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_s("30"), Some(30));
        assert_eq!(parse_duration_s("5m"), Some(300));
        assert_eq!(parse_duration_s("2h"), Some(7200));
        assert_eq!(parse_duration_s("1d"), Some(86_400));
        assert_eq!(parse_duration_s("10minutes"), Some(600));
        assert_eq!(parse_duration_s("m"), None);
        assert_eq!(parse_duration_s("5y"), None);
        assert_eq!(parse_duration_s("99999999999999999999d"), None);
    }

    #[test]
    fn log_show_options() {
        let o = LogShowOptions::parse(&[
            "--boot",
            "-1",
            "--level",
            "warn",
            "--grep",
            "disk",
            "--since",
            "5m",
            "--exclude",
            "usb",
        ])
        .unwrap();
        assert_eq!(o.boot, Some(BootChoice::Relative(-1)));
        assert_eq!(o.level, Some(LevelChoice::Warn));
        assert_eq!(o.grep.as_deref(), Some("disk"));
        assert_eq!(o.exclude.as_deref(), Some("usb"));
        assert_eq!(o.since_s, Some(300));
        assert_eq!(o.tail, Some(DEFAULT_TAIL));
        assert_eq!(BootChoice::parse("-2").and_then(|b| b.resolve(12)), Some(10));
        assert_eq!(BootChoice::parse("0").and_then(|b| b.resolve(12)), Some(12));
        assert_eq!(BootChoice::parse("-1").and_then(|b| b.resolve(1)), None, "no boot before the first");
        assert_eq!(BootChoice::parse("x"), None);
        let o = LogShowOptions::parse(&["--boot", "7", "--all"]).unwrap();
        assert_eq!((o.boot, o.tail, o.all), (Some(BootChoice::Number(7)), None, true));
        assert_eq!(LogShowOptions::parse(&["--tail"]), Err(OptionError::MissingValue("--tail")));
        assert_eq!(LogShowOptions::parse(&["--exclude"]), Err(OptionError::MissingValue("--exclude")));
        let o = LogShowOptions::parse(&["--head", "20"]).unwrap();
        assert_eq!((o.head, o.tail, o.all), (Some(20), None, false));
        assert_eq!(
            LogShowOptions::parse(&["--head", "5", "--tail", "5"]),
            Err(OptionError::Conflict("--head", "--tail"))
        );
        assert_eq!(
            LogShowOptions::parse(&["--all", "--head", "5"]),
            Err(OptionError::Conflict("--head", "--all"))
        );
        assert!(matches!(LogShowOptions::parse(&["--head", "-3"]), Err(OptionError::BadValue { .. })));
        assert!(matches!(LogShowOptions::parse(&["--level", "loud"]), Err(OptionError::BadValue { .. })));
        assert!(matches!(LogShowOptions::parse(&["--frobnicate"]), Err(OptionError::Unknown(_))));
    }

    proptest! {
        #[test]
        fn any_words_parse_or_fail_cleanly(words in proptest::collection::vec(".{0,12}", 0..8)) {
            let refs: alloc::vec::Vec<&str> = words.iter().map(|s| s.as_str()).collect();
            let _ = LogShowOptions::parse(&refs);
            for w in &words { let _ = parse_duration_s(w); }
        }
    }
}
