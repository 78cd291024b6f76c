//! Which way a request turns something: on (enable, connect, start, arm) or off (disable,
//! disconnect, stop, disarm), read from the words that say so, with negation and "airplane mode" taken
//! into account.
//!
//! A bag of words cannot tell "airplane mode off" (the network goes on) from "network off",
//! nor "don't keep the network off, enable it" from "disable it": the words are nearly the
//! same and their order decides. The classifier gets the direction found here as a feature
//! ([`crate::features::Pooling::polarity`]) and learns how far to trust it for each intent;
//! nothing is overruled by it.
//!
//! A direction can also be asked about rather than ordered: "is the network on?", "net up?"
//! and "did someone turn it off" want `net status`, "turn the network on" and "net up" want
//! it changed. [`directions`] keeps the two apart ([`crate::features::Pooling::states`]).

/// The direction a request turns something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// Enable, connect, start, arm.
    On,
    /// Disable, disconnect, stop, disarm.
    Off,
}

/// Words that turn something on or off wherever they stand.
fn verb_sign(word: &str) -> i32 {
    word_value!(word,
        "enable" | "enabled" | "enables" | "enabling" | "activate" | "activated" | "reactivate"
        | "unblock" | "unblocked" | "reconnect" | "reconnected" | "connect" | "establish" | "established"
        | "restore" | "reenable" | "online" | "unmute" | "arm" | "rearm" | "armed" | "allow" | "start" => 1,
        "disable" | "disabled" | "disables" | "disabling" | "deactivate" | "deactivated" | "block"
        | "blocked" | "disconnect" | "disconnected" | "revoke" | "revoked" | "sever" | "unplug"
        | "offline" | "isolate" | "disarm" | "disarmed" | "cut" | "kill" | "stop" => -1,
    )
    .unwrap_or(0)
}

/// Words after which "on", "up" and "down" are particles of a verb ("turn it on", "bring
/// up", "network on") rather than prepositions ("logs on boot 3") or questions ("what's up").
fn takes_particle(word: &str) -> bool {
    one_of!(
        word,
        "turn"
            | "turned"
            | "switch"
            | "switched"
            | "flip"
            | "put"
            | "back"
            | "toggle"
            | "it"
            | "them"
            | "bring"
            | "power"
            | "set"
            | "networking"
            | "network"
            | "net"
            | "internet"
            | "wifi"
            | "ethernet"
            | "connectivity"
            | "mode"
            | "watchdog"
            | "wd"
            | "again"
    )
}

fn is_copula(word: &str) -> bool {
    one_of!(word, "is" | "s" | "was" | "are" | "re" | "were" | "been" | "still")
}

/// Whether the word at `i` is "on", "up" or "down" used as a particle, and its sign. Right
/// after a copula ("the vm is off") the word describes a state, which counts only where
/// states are told apart from orders (`describing`).
fn particle_sign(words: &[&str], i: usize, describing: bool) -> i32 {
    let before = if i > 0 { words[i - 1] } else { "" };
    let sign = match words[i] {
        "on" | "up" => 1,
        "off" | "down" => -1,
        _ => return 0,
    };
    if is_copula(before) {
        // "is it on right now", "the network is off, turn it on", but not "what is on
        // boot 3" or "what's on vda": a preposition before what it places.
        let ends_phrase = words.get(i + 1).is_none_or(|next| {
            !(next.starts_with(|c: char| c.is_ascii_digit())
                || crate::text::is_article(next)
                || one_of!(
                    *next,
                    "their"
                        | "boot"
                        | "disk"
                        | "drive"
                        | "partition"
                        | "screen"
                        | "display"
                        | "page"
                        | "line"
                        | "vda"
                        | "vdb"
                        | "sda"
                        | "sdb"
                        | "nvme0n1"
                ))
        });
        return if describing && ends_phrase { sign } else { 0 };
    }
    if words[i] == "off" {
        return if before == "kick" { 1 } else { -1 };
    }
    let after_particle_verb = takes_particle(before);
    // "network down" reads as a state: in the plain reading it counts for nothing, where
    // states are told apart it counts as off ("take it down" is a command either way).
    let is_state = words[i] == "down" && !matches!(before, "it" | "them" | "back");
    if is_state && after_particle_verb && describing {
        return -1;
    }
    let at_end = words[i + 1..].iter().all(|w| crate::text::is_filler(w));
    if (after_particle_verb && !is_state) || (words[i] == "on" && at_end) {
        sign
    } else {
        0
    }
}

/// Whether a negation stands at `i`: "not", "never", "dont", or the "t" of "don't",
/// "doesn't", "isn't" (but not of "can't" or "can not", which state a problem: "i can't
/// connect"), and neither "never mind" nor "why don't you", which ask for the thing.
fn is_negation(words: &[&str], i: usize) -> bool {
    match words[i] {
        // "i can not connect" states a problem, as "can't" does.
        "not" => !(i > 0 && matches!(words[i - 1], "can" | "could")),
        "dont" | "doesnt" | "didnt" | "isnt" | "arent" | "wont" | "shouldnt" => true,
        "never" => words.get(i + 1) != Some(&"mind"),
        "t" => {
            i > 0
                && one_of!(words[i - 1], "don" | "doesn" | "didn" | "isn" | "aren" | "won" | "shouldn")
                && !(i > 1 && words[i - 2] == "why")
        }
        _ => false,
    }
}

fn is_network_noun(word: &str) -> bool {
    one_of!(word, "network" | "networking" | "internet" | "net" | "wifi" | "connection" | "connectivity")
}

/// Whether a negation stands one or two words before the direction word at `i`, or right
/// before a verb that takes the direction as its particle, up to four words back ("don't
/// keep the network off", "don't turn the wifi off"); never across another direction word
/// ("don't stop, start it").
fn negated(words: &[&str], i: usize) -> bool {
    for (back, j) in (i.saturating_sub(4)..i).rev().enumerate() {
        if back < 2 && is_negation(words, j) {
            return true;
        }
        let takes_direction =
            one_of!(words[j], "keep" | "leave" | "stay" | "let" | "turn" | "switch" | "put" | "flip");
        if takes_direction && j > 0 && is_negation(words, j - 1) {
            return true;
        }
        // "i don't want to disable it", "i didn't mean to disarm it"
        let wants_to =
            words[j] == "to" && j > 1 && one_of!(words[j - 1], "want" | "mean" | "need" | "wanted" | "meant");
        if wants_to && is_negation(words, j - 2) {
            return true;
        }
        if direction_word(words[j]) {
            return false;
        }
    }
    false
}

fn direction_word(word: &str) -> bool {
    verb_sign(word) != 0 || one_of!(word, "on" | "up" | "down" | "off")
}

/// Where a request names airplane (flight) mode: the index of its "mode".
fn airplane_mode_at(words: &[&str]) -> Option<usize> {
    (1..words.len()).find(|&i| words[i] == "mode" && is_airplane(words[i - 1]))
}

/// The first word of "airplane mode" and its other names.
fn is_airplane(word: &str) -> bool {
    one_of!(word, "airplane" | "aeroplane" | "flight" | "plane")
}

fn ends_clause(word: &str) -> bool {
    one_of!(word, "and" | "then" | "but" | "also" | "so")
}

/// Whether the direction word at `k` acts on the airplane mode whose "mode" is at `mode`:
/// up to three words before it or two after, in the same clause ("turn off airplane mode",
/// "airplane mode off", but not "enable wifi" in "disable airplane mode and enable wifi").
fn acts_on_airplane_mode(words: &[&str], k: usize, mode: usize) -> bool {
    let start = mode - 1;
    let between = if k < start && k + 3 >= start {
        &words[k + 1..start]
    } else if k > mode && k <= mode + 2 {
        &words[mode + 1..k]
    } else {
        return false;
    };
    !between.iter().any(|w| ends_clause(w))
}

/// Whether the direction word at `i` describes a state ("is the network on", "are we
/// offline", "did someone turn it off") rather than orders one. Looking back up to five
/// words in the same clause, with no other direction word between: a copula before a state
/// word ("on", "off", "offline", "disabled", "no"; not "disable", unless the request ends
/// with a question mark: "is watchdog arm?"), or "did" or "does" opening a question ("did
/// someone ...", "why did you ..."). "to" between them orders ("is it possible to stop the
/// network", "it is to be turned off"), as do "make sure", "be sure", "ensure" and "keep"
/// before the copula ("make sure the network is off").
fn describes(words: &[&str], i: usize, asks: bool) -> bool {
    let word = words[i];
    // At "airplane" of "airplane mode": being in it is a state.
    let state = one_of!(word, "on" | "off" | "up" | "down" | "online" | "offline" | "no")
        || is_airplane(word)
        || word.ends_with("ed");
    let mut asked = false;
    for j in (i.saturating_sub(5)..i).rev() {
        let before = words[j];
        if ends_clause(before) || direction_word(before) {
            break;
        }
        let orders = match before {
            "to" => !asked,
            "sure" => j > 0 && matches!(words[j - 1], "make" | "makes" | "be"),
            "ensure" | "keep" | "keeps" => true,
            _ => false,
        };
        if orders {
            return false;
        }
        // "is watchdog arm?": a state in the words of someone still learning English.
        asked |= (state || asks) && is_state_copula(words, j) || opens_question(words, j);
    }
    asked || (asks && state && asked_bare(words, i))
}

/// A copula, where a state is told apart from an order: also "am", "isn't" and the like,
/// and not the "s" of "let's".
fn is_state_copula(words: &[&str], j: usize) -> bool {
    match words[j] {
        "s" => !(j > 0 && words[j - 1] == "let"),
        "am" | "m" | "isn" | "isnt" | "aren" | "arent" | "wasn" | "wasnt" => true,
        word => is_copula(word),
    }
}

/// "did" or "does" opening a question: first in its clause or after a question word ("did
/// someone turn it off", "why did you disable it"), not "i did that already".
fn opens_question(words: &[&str], j: usize) -> bool {
    matches!(words[j], "did" | "does")
        && (j == 0
            || ends_clause(words[j - 1])
            || one_of!(
                words[j - 1],
                "why" | "when" | "who" | "what" | "how" | "where" | "so" | "ok" | "hey" | "rayos"
            ))
}

/// Whether the state word at `i` of a request that ends with a question mark is asked about
/// with no verb ("net up?", "offline?", "wifi on?"): it stands in the last clause, and
/// nothing before it in that clause orders ("can you turn it off?", "please go offline?").
fn asked_bare(words: &[&str], i: usize) -> bool {
    if words[i + 1..].iter().any(|w| ends_clause(w)) {
        return false;
    }
    for &before in words[..i].iter().rev() {
        if ends_clause(before) {
            break;
        }
        if takes_particle(before) && !is_network_noun(before) && !matches!(before, "mode" | "watchdog" | "wd")
            || one_of!(
                before,
                "you" | "u" | "please" | "pls" | "plz" | "go" | "get" | "make" | "keep" | "let"
            )
        {
            return false;
        }
    }
    true
}

/// The directions a request names, summed: +1 for every word that turns something on, -1
/// for every word that turns it off (see [`polarity`] for which words count and how).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directions {
    /// Words that order a direction ("turn it off", "enable the network").
    pub ordered: i32,
    /// Words that describe or ask about a state ("is the network on", "we're offline").
    pub described: i32,
}

impl Directions {
    /// The direction of a sum: `None` for zero.
    pub fn of(sum: i32) -> Option<Polarity> {
        match sum {
            0 => None,
            s if s > 0 => Some(Polarity::On),
            _ => Some(Polarity::Off),
        }
    }
}

/// The direction the words turn something, or `None` when they name none or contradict each
/// other. Every direction word counts, turned round when a negation stands shortly before
/// it; "no internet" counts as off. Airplane (flight) mode on is the network off: the words
/// that act on it count the other way round, and named with none ("put it in airplane
/// mode") it counts as entered, unless the request leaves it ("get out of airplane mode")
/// or a negation stands before it. A particle right after a copula ("the vm is off") counts
/// for nothing here; see [`directions`] for a reading that tells states from orders.
pub fn polarity(words: &[&str]) -> Option<Polarity> {
    let found = sum_directions(words, None);
    Directions::of(found.ordered + found.described)
}

/// [`polarity`]'s sums, with the words that describe or ask about a state apart from
/// those that order one: a state word ("on", "offline", "disabled") after a copula, any
/// direction word after "did" or "does", and, when the request ends with a question mark
/// (`asks`), a state word with no verb before it ("net up?"). Particles after a copula
/// count here as states.
pub fn directions(words: &[&str], asks: bool) -> Directions {
    sum_directions(words, Some(asks))
}

/// The sums; `describing` is `None` for [`polarity`]'s plain reading, and otherwise whether
/// the request ends as a question.
fn sum_directions(words: &[&str], describing: Option<bool>) -> Directions {
    let airplane = airplane_mode_at(words);
    let mut found = Directions::default();
    let mut add = |sum: i32, at: usize| {
        if describing.is_some_and(|asks| describes(words, at, asks)) {
            found.described += sum;
        } else {
            found.ordered += sum;
        }
    };
    let mut acts_on_airplane = false;
    for (i, &word) in words.iter().enumerate() {
        let mut sign = match word {
            "on" | "up" | "down" | "off" => particle_sign(words, i, describing.is_some()),
            // "dis arm", "un-arm"
            "arm" | "armed" if i > 0 && matches!(words[i - 1], "dis" | "un") => -1,
            _ => verb_sign(word),
        };
        if word == "no" && words.get(i + 1).is_some_and(|w| is_network_noun(w)) {
            sign = -1;
        } else if sign != 0 && negated(words, i) {
            sign = -sign;
        }
        if sign != 0 && airplane.is_some_and(|mode| acts_on_airplane_mode(words, i, mode)) {
            sign = -sign;
            acts_on_airplane = true;
        }
        if sign != 0 {
            add(sign, i);
        }
    }
    if let (Some(mode), false) = (airplane, acts_on_airplane) {
        let before = mode.saturating_sub(5)..mode - 1;
        if words[before.clone()]
            .iter()
            .any(|w| one_of!(*w, "exit" | "leave" | "leaving" | "quit" | "out" | "end"))
        {
            add(1, mode - 1);
        } else if !before.into_iter().any(|j| is_negation(words, j)) {
            add(-1, mode - 1);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<Polarity> {
        let normalized = crate::text::normalize(text);
        polarity(&crate::text::words(&normalized))
    }

    #[test]
    fn plain_directions() {
        assert_eq!(read("enable the network"), Some(Polarity::On));
        assert_eq!(read("turn the wifi on"), Some(Polarity::On));
        assert_eq!(read("network on"), Some(Polarity::On));
        assert_eq!(read("bring it back up please"), Some(Polarity::On));
        assert_eq!(read("switch off networking"), Some(Polarity::Off));
        assert_eq!(read("go offline"), Some(Polarity::Off));
        assert_eq!(read("disarm the watchdog"), Some(Polarity::Off));
    }

    #[test]
    fn words_that_are_not_directions() {
        assert_eq!(read("show the logs on boot 3"), None);
        assert_eq!(read("what's up"), None);
        assert_eq!(read("is the network down"), None);
        assert_eq!(read("how much memory is free"), None);
    }

    #[test]
    fn negation_and_airplane_mode_turn_it_round() {
        assert_eq!(read("airplane mode off please"), Some(Polarity::On));
        assert_eq!(read("turn on airplane mode"), Some(Polarity::Off));
        assert_eq!(read("put it in airplane mode"), Some(Polarity::Off));
        assert_eq!(read("get out of flight mode"), Some(Polarity::On));
        assert_eq!(read("don't keep the network off, enable it"), Some(Polarity::On));
        assert_eq!(read("enable networking, not disable"), Some(Polarity::On));
        assert_eq!(read("go back to having no network"), Some(Polarity::Off));
        assert_eq!(read("i can't connect, turn the wifi on"), Some(Polarity::On));
        assert_eq!(read("why don't you arm the watchdog"), Some(Polarity::On));
        assert_eq!(read("disable airplane mode and enable wifi"), Some(Polarity::On));
        assert_eq!(read("turn airplane mode off and turn wifi on"), Some(Polarity::On));
        assert_eq!(read("turn on the network, then leave airplane mode"), Some(Polarity::On));
        assert_eq!(read("don't turn off airplane mode"), Some(Polarity::Off));
        assert_eq!(read("don't put it in airplane mode"), None);
        assert_eq!(read("i can not connect, turn the wifi on"), Some(Polarity::On));
        assert_eq!(read("please don't turn the wifi off"), Some(Polarity::On));
        assert_eq!(read("i didn't mean to disarm it"), Some(Polarity::On));
        assert_eq!(read("i dont want to disable it"), Some(Polarity::On));
        assert_eq!(read("never mind the status, arm it"), Some(Polarity::On));
    }

    #[test]
    fn contradictions_give_no_direction() {
        assert_eq!(read("disable the network, no, enable it"), None);
        assert_eq!(read("the vm is off"), None);
    }

    fn states(text: &str) -> (Option<Polarity>, Option<Polarity>) {
        let normalized = crate::text::normalize(text);
        let found = directions(&crate::text::words(&normalized), crate::text::ends_as_question(&normalized));
        (Directions::of(found.ordered), Directions::of(found.described))
    }

    #[test]
    fn states_apart_from_orders() {
        use Polarity::{Off, On};
        assert_eq!(states("is the network enabled?"), (None, Some(On)));
        assert_eq!(states("are we offline"), (None, Some(Off)));
        assert_eq!(states("the vm is off"), (None, Some(Off)));
        assert_eq!(states("is the network down"), (None, Some(Off)));
        assert_eq!(states("did someone turn the network on?"), (None, Some(On)));
        assert_eq!(states("is airplane mode on?"), (None, Some(Off)));
        assert_eq!(states("are we in airplane mode"), (None, Some(Off)));
        assert_eq!(states("why is the network on, can you disable it?"), (Some(Off), Some(On)));
        assert_eq!(states("make sure the network is off"), (Some(Off), None));
        assert_eq!(states("turn the network on"), (Some(On), None));
        assert_eq!(states("the network is still off, turn it on"), (Some(On), Some(Off)));
        assert_eq!(states("net up?"), (None, Some(On)));
        assert_eq!(states("is watchdog arm?"), (None, Some(On)));
        assert_eq!(states("is it possible to stop the network?"), (Some(Off), None));
        assert_eq!(states("let's turn the wifi off"), (Some(Off), None));
        assert_eq!(states("why am i offline"), (None, Some(Off)));
        assert_eq!(states("how to tell if wifi is on"), (None, Some(On)));
        assert_eq!(states("are you sure the network is off?"), (None, Some(Off)));
        assert_eq!(states("is there no internet?"), (None, Some(Off)));
        assert_eq!(states("wifi on?!"), (None, Some(On)));
        assert_eq!(states("i did that already, now disable the network"), (Some(Off), None));
        assert_eq!(states("what is on boot 3"), (None, None));
        assert_eq!(states("is it on right now"), (None, Some(On)));
        assert_eq!(states("offline?"), (None, Some(Off)));
        assert_eq!(states("net up"), (Some(On), None));
        assert_eq!(states("can you turn it off?"), (Some(Off), None));
        assert_eq!(states("disable the watchdog, then wifi on?"), (Some(Off), Some(On)));
    }

    #[test]
    fn the_plain_reading_counts_states_as_before() {
        assert_eq!(read("the vm is off"), None);
        assert_eq!(read("is the network enabled?"), Some(Polarity::On));
        assert_eq!(read("why is the network on, can you disable it?"), None);
    }
}
