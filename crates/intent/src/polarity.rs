//! Which way a request turns something: on (enable, connect, start, arm) or off (disable,
//! disconnect, stop, disarm), read from the words that say so, with negation and "airplane mode" taken
//! into account.
//!
//! A bag of words cannot tell "airplane mode off" (the network goes on) from "network off",
//! nor "don't keep the network off, enable it" from "disable it": the words are nearly the
//! same and their order decides. The classifier gets the direction found here as a feature
//! ([`crate::features::Pooling::polarity`]) and learns how far to trust it for each intent;
//! nothing is overruled by it.

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
    match word {
        "enable" | "enabled" | "enables" | "enabling" | "activate" | "activated" | "reactivate"
        | "unblock" | "unblocked" | "reconnect" | "reconnected" | "connect" | "establish" | "established"
        | "restore" | "reenable" | "online" | "unmute" | "arm" | "rearm" | "armed" | "allow" | "start" => 1,
        "disable" | "disabled" | "disables" | "disabling" | "deactivate" | "deactivated" | "block"
        | "blocked" | "disconnect" | "disconnected" | "revoke" | "revoked" | "sever" | "unplug"
        | "offline" | "isolate" | "disarm" | "disarmed" | "cut" | "kill" | "stop" => -1,
        _ => 0,
    }
}

/// Words after which "on", "up" and "down" are particles of a verb ("turn it on", "bring
/// up", "network on") rather than prepositions ("logs on boot 3") or questions ("what's up").
fn takes_particle(word: &str) -> bool {
    matches!(
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

/// Whether the word at `i` is "on", "up" or "down" used as a particle, and its sign.
fn particle_sign(words: &[&str], i: usize) -> i32 {
    let before = if i > 0 { words[i - 1] } else { "" };
    // "the vm is off" describes; "kick off the build" starts.
    if matches!(before, "is" | "s" | "was" | "are" | "re" | "were" | "been" | "still") {
        return 0;
    }
    if words[i] == "off" {
        return if before == "kick" { 1 } else { -1 };
    }
    let sign = match words[i] {
        "on" | "up" => 1,
        "down" => -1,
        _ => return 0,
    };
    let after_particle_verb = takes_particle(before);
    // "network down" is how a status question says it; "take it down" is a command.
    let is_state = words[i] == "down" && !matches!(before, "it" | "them" | "back");
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
                && matches!(words[i - 1], "don" | "doesn" | "didn" | "isn" | "aren" | "won" | "shouldn")
                && !(i > 1 && words[i - 2] == "why")
        }
        _ => false,
    }
}

fn is_network_noun(word: &str) -> bool {
    matches!(word, "network" | "networking" | "internet" | "net" | "wifi" | "connection" | "connectivity")
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
            matches!(words[j], "keep" | "leave" | "stay" | "let" | "turn" | "switch" | "put" | "flip");
        if takes_direction && j > 0 && is_negation(words, j - 1) {
            return true;
        }
        if direction_word(words[j]) {
            return false;
        }
    }
    false
}

fn direction_word(word: &str) -> bool {
    verb_sign(word) != 0 || matches!(word, "on" | "up" | "down" | "off")
}

/// Where a request names airplane (flight) mode: the index of its "mode".
fn airplane_mode_at(words: &[&str]) -> Option<usize> {
    (1..words.len()).find(|&i| {
        words[i] == "mode" && matches!(words[i - 1], "airplane" | "aeroplane" | "flight" | "plane")
    })
}

fn ends_clause(word: &str) -> bool {
    matches!(word, "and" | "then" | "but" | "also" | "so")
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

/// The direction the words turn something, or `None` when they name none or contradict each
/// other. Every direction word counts, turned round when a negation stands shortly before
/// it; "no internet" counts as off. Airplane (flight) mode on is the network off: the words
/// that act on it count the other way round, and named with none ("put it in airplane
/// mode") it counts as entered, unless the request leaves it ("get out of airplane mode")
/// or a negation stands before it.
pub fn polarity(words: &[&str]) -> Option<Polarity> {
    let airplane = airplane_mode_at(words);
    let mut sum = 0;
    let mut acts_on_airplane = false;
    for (i, &word) in words.iter().enumerate() {
        let mut sign = match word {
            "on" | "up" | "down" | "off" => particle_sign(words, i),
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
        sum += sign;
    }
    if let (Some(mode), false) = (airplane, acts_on_airplane) {
        let before = mode.saturating_sub(5)..mode - 1;
        if words[before.clone()]
            .iter()
            .any(|w| matches!(*w, "exit" | "leave" | "leaving" | "quit" | "out" | "end"))
        {
            sum += 1;
        } else if !before.into_iter().any(|j| is_negation(words, j)) {
            sum -= 1;
        }
    }
    match sum {
        0 => None,
        s if s > 0 => Some(Polarity::On),
        _ => Some(Polarity::Off),
    }
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
        assert_eq!(read("never mind the status, arm it"), Some(Polarity::On));
    }

    #[test]
    fn contradictions_give_no_direction() {
        assert_eq!(read("disable the network, no, enable it"), None);
        assert_eq!(read("the vm is off"), None);
    }
}
