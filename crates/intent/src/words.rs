//! Word lists as data: `one_of!(word, "a" | "an" | "the")` and
//! `word_value!(word, "s" | "sec" => 1, "m" | "min" => 60)`.
//!
//! The engine asks many questions of the form "is this word one of these": an article, a unit
//! of time, a verb of the VM commands. Written as `matches!(word, "a" | "an" | ...)` or as a
//! `match` on string literals, each list compiles into a chain of comparisons of its own, and
//! a word walks the chain as far as its length and letters take it. On hardware that is fast.
//! Under QEMU's software emulation every part of every chain is code that QEMU translates the
//! first time a word reaches it (about 7 µs a block here), and the first reading of a new kind
//! of request paid for hundreds of such blocks.
//!
//! These macros take the same lists, written the same way, sort them while compiling, and
//! answer with one binary search that every list shares ([`value_of`]): one piece of code to
//! translate, whatever the word and whatever the list.

/// Whether a word (a `&str` expression) is one of a list of string literals, written as in
/// `matches!`. The list is sorted at compile time; its order in the source does not matter.
macro_rules! one_of {
    ($word:expr, $($listed:literal)|+ $(,)?) => {
        $crate::words::value_of(const { &$crate::words::sorted([$(($listed, ())),+]) }, $word).is_some()
    };
}

/// What a word stands for, from a table written as the arms of a `match` on string literals:
/// `word_value!(word, "s" | "sec" => 1, "m" | "min" => 60)` is `Some(1)` for "sec" and `None`
/// for a word the table does not list. Sorted at compile time and searched as `one_of!` is.
macro_rules! word_value {
    ($word:expr, $($($listed:literal)|+ => $value:expr),+ $(,)?) => {
        $crate::words::value_of(const { &$crate::words::sorted([$($(($listed, $value)),+),+]) }, $word)
    };
}

/// The order of the tables: shorter words first, then by bytes. Comparing lengths first
/// settles most steps of a search without reading a letter.
const fn precedes(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    false
}

/// `table` in the order [`value_of`] searches, by its words (insertion sort: it runs at
/// compile time, on tables of at most a few hundred words). A word listed twice is an error.
pub const fn sorted<T: Copy, const N: usize>(mut table: [(&'static str, T); N]) -> [(&'static str, T); N] {
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && precedes(table[j].0, table[j - 1].0) {
            let moved = table[j];
            table[j] = table[j - 1];
            table[j - 1] = moved;
            j -= 1;
        }
        i += 1;
    }
    // A word listed twice would be found under either entry: refused while compiling.
    let mut k = 1;
    while k < N {
        assert!(precedes(table[k - 1].0, table[k].0), "a word is listed twice");
        k += 1;
    }
    table
}

/// What `word` stands for in `table`, a table in [`sorted`] order. Never inlined: every table
/// of a value type shares this one search.
#[inline(never)]
pub fn value_of<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table.binary_search_by(|(listed, _)| in_order(listed, word)).ok().map(|at| table[at].1)
}

/// The order of [`precedes`], for a search. The letters are compared in a loop of its own:
/// the words are short, and the kernel's `memcmp` goes byte by byte through a closure.
fn in_order(listed: &str, word: &str) -> core::cmp::Ordering {
    if listed.len() != word.len() {
        return listed.len().cmp(&word.len());
    }
    for (a, b) in listed.bytes().zip(word.bytes()) {
        if a != b {
            return a.cmp(&b);
        }
    }
    core::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_listed_word_and_no_other() {
        let listed = ["the", "a", "an", "another", "each", "every", "zz", "b", ""];
        const TABLE: &[(&str, ())] = &sorted([
            ("the", ()),
            ("a", ()),
            ("an", ()),
            ("another", ()),
            ("each", ()),
            ("every", ()),
            ("zz", ()),
            ("b", ()),
            ("", ()),
        ]);
        for word in listed {
            assert!(value_of(TABLE, word).is_some(), "{word:?}");
        }
        for word in ["th", "thee", "c", "anothers", "A", "The", " a", "eac"] {
            assert!(value_of(TABLE, word).is_none(), "{word:?}");
        }
    }

    #[test]
    fn sorts_by_length_then_bytes() {
        let words = sorted([("bb", 0), ("a", 1), ("ab", 2), ("b", 3), ("aa", 4)]).map(|(word, _)| word);
        assert_eq!(words, ["a", "b", "aa", "ab", "bb"]);
        assert_eq!(sorted::<u8, 0>([]), []);
    }

    #[test]
    fn one_of_reads_like_matches() {
        let answers = |word: &str| one_of!(word, "stop" | "halt" | "kill" | "power off");
        for word in ["stop", "halt", "kill", "power off"] {
            assert!(answers(word));
        }
        assert!(!answers("start"));
        assert!(!answers("power"));
    }

    #[test]
    fn word_value_reads_like_a_match() {
        let seconds =
            |word: &str| word_value!(word, "s" | "sec" => 1u64, "m" | "min" | "minutes" => 60, "h" => 3600);
        assert_eq!(seconds("sec"), Some(1));
        assert_eq!(seconds("minutes"), Some(60));
        assert_eq!(seconds("h"), Some(3600));
        assert_eq!(seconds("hour"), None);
        assert_eq!(seconds(""), None);
    }
}
