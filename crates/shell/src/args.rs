//! Splitting a command line into words.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// A quote opened at this byte offset is never closed.
    UnterminatedQuote(usize),
    /// The line ends with a lone backslash.
    TrailingBackslash,
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedQuote(at) => write!(f, "the quote at column {} is never closed", at + 1),
            Self::TrailingBackslash => f.write_str("the line ends with a lone backslash"),
        }
    }
}

/// Splits `line` at whitespace. `"..."` and `'...'` group words (no escapes inside single
/// quotes); a backslash outside single quotes takes the next character literally.
pub fn split(line: &str) -> Result<Vec<String>, ArgsError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                let (_, next) = chars.next().ok_or(ArgsError::TrailingBackslash)?;
                word.push(next);
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err(ArgsError::UnterminatedQuote(at)),
                        Some((_, q)) if q == quote => break,
                        Some((_, '\\')) if quote == '"' => {
                            let (_, next) = chars.next().ok_or(ArgsError::UnterminatedQuote(at))?;
                            word.push(next);
                        }
                        Some((_, other)) => word.push(other),
                    }
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn splits_words_and_quotes() {
        assert_eq!(split("  echo  a b ").unwrap(), vec!["echo", "a", "b"]);
        assert_eq!(split(r#"echo "a b" 'c d' e\ f"#).unwrap(), vec!["echo", "a b", "c d", "e f"]);
        assert_eq!(split(r#"x "say \"hi\"""#).unwrap(), vec!["x", "say \"hi\""]);
        assert_eq!(split(r#"x ''"#).unwrap(), vec!["x", ""]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn reports_bad_quoting() {
        assert_eq!(split("echo \"abc"), Err(ArgsError::UnterminatedQuote(5)));
        assert_eq!(split("echo abc\\"), Err(ArgsError::TrailingBackslash));
    }
}
