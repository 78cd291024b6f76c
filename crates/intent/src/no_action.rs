//! Requests that ask RayOS to run nothing, though their words name actions: an answer typed
//! when no question waits ("n", "go ahead"), a prohibition ("don't shut down"), a request
//! to cancel what is not running ("cancel the reboot"), and a request taken back at its end
//! ("reboot. scratch that"). Read by the classifier alone, each of them proposed the very
//! action it names (a reboot for "n", from its character pieces; a shutdown for "don't shut
//! down"), so [`crate::Engine::read`] reads them as out of scope with the reply here.
//!
//! A yes/no question about a state ("is linux running?") asks for no change either: when
//! the classifier reads it as the change that leads to that state, [`status_of`] names the
//! intent that shows the state instead.
//!
//! The rules look at whole requests of a known shape only; anything longer, or with a
//! condition or a second clause ("don't reboot when it hangs" is disarming the watchdog,
//! "don't stop linux, just hide it"), stays with the classifier.

/// What RayOS says to an answer that answers no question.
pub const LONE_ANSWER_REPLY: &str = "Nothing is waiting for an answer. RayOS asks for y/N (or for \
     `yes`) right after a request that changes something, and reads the answer there; this line \
     was not read as a request. Type `help` for everything RayOS understands.";

/// What RayOS says to a request that only forbids an action.
pub const PROHIBITION_REPLY: &str = "That asks RayOS not to do something, so nothing runs. Type `help` \
     for everything RayOS understands.";

/// What RayOS says to a request to cancel an action.
pub const CANCEL_REPLY: &str = "Nothing is scheduled or under way to cancel: RayOS runs a command when \
     you ask, and asks first when it changes something. Type `help` for everything RayOS understands.";

/// What RayOS says to a request to pet the watchdog, which no request runs.
pub const PET_REPLY: &str = "RayOS pets the watchdog itself every second while it runs; `watchdog pet` \
     does it once by hand, and `watchdog status` shows when it was last petted.";

/// What RayOS says to a request taken back at its end.
pub const TAKEN_BACK_REPLY: &str = "You took that back, so nothing runs.";

/// The reply to a request that asks RayOS to run nothing, or `None` for any other request.
/// `words` are the request's words (normalised, typo-corrected), `normalized` its text.
pub fn reply(words: &[&str], normalized: &str) -> Option<&'static str> {
    let long = words.len() > 12;
    let words: alloc::vec::Vec<&str> = words.iter().copied().filter(|w| !is_filler(w)).collect();
    // The other rules read short requests only; a long one can still take itself back.
    if long {
        return is_taken_back(&words, normalized).then_some(TAKEN_BACK_REPLY);
    }
    if is_lone_answer(&words) {
        Some(LONE_ANSWER_REPLY)
    } else if only_forbids_an_action(&words, normalized) {
        Some(PROHIBITION_REPLY)
    } else if cancels_an_action(&words) {
        Some(CANCEL_REPLY)
    } else if is_taken_back(&words, normalized) {
        Some(TAKEN_BACK_REPLY)
    } else if pets_the_watchdog(&words) {
        Some(PET_REPLY)
    } else {
        None
    }
}

fn is_filler(word: &str) -> bool {
    one_of!(word, "please" | "pls" | "plz" | "rayos" | "hey" | "thanks" | "thank" | "you" | "ever")
}

/// A verb of something a command does.
fn acts(word: &str) -> bool {
    one_of!(
        word,
        "shut"
            | "shutdown"
            | "reboot"
            | "restart"
            | "reset"
            | "halt"
            | "power"
            | "install"
            | "roll"
            | "rollback"
            | "revert"
            | "start"
            | "stop"
            | "kill"
            | "wipe"
            | "format"
            | "erase"
            | "arm"
            | "disarm"
            | "enable"
            | "disable"
            | "turn"
            | "switch"
            | "connect"
            | "disconnect"
            | "make"
            | "set"
    )
}

/// Only the answer to a question: "y", "no", "ok", "cancel", "go ahead", "do it". Read by
/// the classifier, "no" turned the network off and "do it" read as a reboot.
fn is_lone_answer(words: &[&str]) -> bool {
    let answers = |w: &str| {
        one_of!(
            w,
            "y" | "n"
                | "yes"
                | "no"
                | "yeah"
                | "yep"
                | "yup"
                | "nope"
                | "nah"
                | "ok"
                | "okay"
                | "cancel"
                | "abort"
                | "do"
                | "go"
                | "run"
                | "execute"
                | "proceed"
                | "continue"
                | "undo"
                | "dont"
                | "don"
        )
    };
    let goes_with =
        |w: &str| one_of!(w, "it" | "that" | "this" | "ahead" | "t" | "now" | "just" | "again" | "sure");
    words.iter().any(|w| answers(w)) && words.iter().all(|w| answers(w) || goes_with(w))
}

/// Only forbids an action: "don't shut down", "do not roll back", "never install on vdb", "i
/// don't want to reboot", "no need to reboot". Verbs that name no command's action ("don't
/// let it reset", "dont show hostile", which is hiding it) are left to the classifier.
fn only_forbids_an_action(words: &[&str], normalized: &str) -> bool {
    let rest = match words {
        ["don", "t", rest @ ..] | ["dont" | "never", rest @ ..] | ["do", "not", rest @ ..] => rest,
        ["i", "don", "t", "want", "to", rest @ ..]
        | ["i", "dont" | "never", "want", "to", rest @ ..]
        | ["i", "do", "not", "want", "to", rest @ ..]
        | ["no", "need", "to", rest @ ..] => rest,
        _ => return false,
    };
    // A condition or the watchdog's own resets ("don't reboot on hang anymore" is disarming
    // it), or another request after it.
    let changes_the_meaning = |w: &str| {
        one_of!(
            w,
            "when"
                | "if"
                | "while"
                | "until"
                | "unless"
                | "just"
                | "only"
                | "instead"
                | "but"
                | "rather"
                | "and"
                | "then"
                | "so"
                | "because"
                | "after"
                | "before"
                | "again"
                | "anything"
                | "everything"
                | "automatically"
                | "anymore"
                | "itself"
                | "hang"
                | "hangs"
                | "hung"
                | "freeze"
                | "freezes"
                | "frozen"
                | "stuck"
                | "crash"
                | "crashes"
                | "let"
        )
    };
    matches!(rest.split_first(), Some((w, more)) if acts(w) && !more.iter().any(|m| acts(m)))
        && rest.len() <= 6
        && !rest.iter().any(|w| changes_the_meaning(w))
        && !has_second_clause(normalized)
}

/// A clause break inside the request ("don't arm it, disarm it"), a trailing courtesy
/// ("don't shutdown, please") aside.
fn has_second_clause(normalized: &str) -> bool {
    let text = normalized.trim_end_matches(|c: char| !c.is_alphanumeric());
    let text = ["please", "pls", "thanks", "thank you"]
        .iter()
        .find_map(|courtesy| text.strip_suffix(courtesy))
        .map_or(text, |rest| rest.trim_end_matches(|c: char| !c.is_alphanumeric()));
    text.contains([',', ';', ':', '.'])
}

/// Cancels an action RayOS never scheduled: "cancel the reboot", "abort shutdown", "stop the
/// reboot", "cancel starting linux". ("stop rebooting on hangs" is disarming the watchdog,
/// "cancel the update" rolling back: neither is read here.)
fn cancels_an_action(words: &[&str]) -> bool {
    let Some((first, rest)) = words.split_first() else { return false };
    let rest: alloc::vec::Vec<&str> =
        rest.iter().copied().filter(|w| !one_of!(*w, "the" | "that" | "this" | "my")).collect();
    let action = |w: &str| {
        one_of!(
            w,
            "reboot"
                | "restart"
                | "shutdown"
                | "shutting"
                | "install"
                | "installation"
                | "installing"
                | "rollback"
                | "starting"
                | "stopping"
        )
    };
    one_of!(*first, "cancel" | "abort" | "stop" | "halt")
        && rest.first().is_some_and(|w| action(w))
        && rest.len() <= 3
}

/// Pets the watchdog: "pet the watchdog", "kick the wd" (not "feed the dog"). Read by the
/// classifier as disarming it, the nearest intent; no intent pets it.
fn pets_the_watchdog(words: &[&str]) -> bool {
    words.len() <= 6
        && words.iter().any(|w| one_of!(*w, "pet" | "kick" | "feed" | "tickle" | "ping"))
        && words.iter().any(|w| matches!(*w, "watchdog" | "wd"))
        && !words.iter().any(|w| one_of!(*w, "how" | "what" | "why" | "when" | "does" | "arm" | "disarm"))
}

/// Taken back at its end: "reboot. scratch that", "shut down, actually no", "reboot. no,
/// cancel", "show the log, never mind".
fn is_taken_back(words: &[&str], normalized: &str) -> bool {
    const ENDINGS: [&[&str]; 10] = [
        &["scratch", "that"],
        &["never", "mind"],
        &["nevermind"],
        &["cancel"],
        &["cancel", "that"],
        &["actually", "no"],
        &["actually", "don", "t"],
        &["actually", "dont"],
        &["forget", "it"],
        &["forget", "that"],
    ];
    words.len() > 2 && ENDINGS.iter().any(|ending| words.ends_with(ending)) && has_second_clause(normalized)
}

/// Whether a request is a yes/no question about a state: "is linux running?", "is the
/// watchdog armed", "has windows stopped", "is recovery the default" (one clause; not "is it
/// possible to stop linux", which asks for it, nor "are you ...").
pub fn asks_about_a_state(words: &[&str], normalized: &str) -> bool {
    let mut rest =
        words.iter().copied().skip_while(|w| one_of!(*w, "hey" | "so" | "ok" | "rayos" | "um" | "and"));
    let opens = rest
        .next()
        .is_some_and(|w| one_of!(w, "is" | "are" | "was" | "were" | "has" | "have" | "isn" | "aren"));
    let subject = rest.next().unwrap_or("you");
    let state = |w: &str| {
        one_of!(
            w,
            "running"
                | "stopped"
                | "up"
                | "down"
                | "started"
                | "on"
                | "off"
                | "armed"
                | "disarmed"
                | "enabled"
                | "disabled"
                | "default"
                | "installed"
                | "connected"
                | "disconnected"
                | "online"
                | "offline"
                | "active"
                | "alive"
                | "shown"
                | "hidden"
                | "visible"
        )
    };
    let asks_for_it = |w: &str| {
        one_of!(
            w,
            "possible" | "safe" | "ok" | "okay" | "able" | "allowed" | "time" | "way" | "if" | "and" | "then"
        )
    };
    opens
        && !one_of!(subject, "you" | "u" | "ya" | "there")
        && words.iter().any(|w| state(w))
        && !words.iter().any(|w| asks_for_it(w))
        && !has_second_clause(normalized)
}

/// The intent that shows the state a change intent leads to (`vm.start` -> `vm.list`).
pub fn status_of(label: &str) -> Option<&'static str> {
    Some(match label {
        "vm.start" | "vm.stop" | "vm.restart" => "vm.list",
        "watchdog.arm" | "watchdog.disarm" => "watchdog.status",
        "net.enable" | "net.disable" => "net.status",
        "recovery.rollback" => "recovery.status",
        "bootmgr.set_default" => "bootmgr.list",
        "install.run" => "disk.list",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<&'static str> {
        let normalized = crate::text::normalize(text);
        let words = crate::text::words(&normalized);
        reply(&words, &normalized)
    }

    #[test]
    fn requests_for_nothing() {
        for (text, expected) in [
            ("n", LONE_ANSWER_REPLY),
            ("go ahead", LONE_ANSWER_REPLY),
            ("do it", LONE_ANSWER_REPLY),
            ("no, don't", LONE_ANSWER_REPLY),
            ("don't shutdown, please", PROHIBITION_REPLY),
            ("never ever shut down", PROHIBITION_REPLY),
            ("i don't want to reboot", PROHIBITION_REPLY),
            ("no need to reboot", PROHIBITION_REPLY),
            ("don't disarm the watchdog", PROHIBITION_REPLY),
            ("cancel the reboot", CANCEL_REPLY),
            ("abort shutdown", CANCEL_REPLY),
            ("stop the reboot", CANCEL_REPLY),
            ("cancel starting linux", CANCEL_REPLY),
            ("shut down. scratch that", TAKEN_BACK_REPLY),
            ("reboot. no, cancel", TAKEN_BACK_REPLY),
            ("shut down, actually no", TAKEN_BACK_REPLY),
            ("pet the watchdog", PET_REPLY),
            ("kick the wd now", PET_REPLY),
        ] {
            assert_eq!(read(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn requests_that_ask_for_something() {
        for text in [
            "don't reboot when it hangs",
            "don't arm it, disarm it",
            "dont show hostile",
            "don't let it reset itself while i debug",
            "stop linux",
            "now",
            "reboot",
            "stop the linux vm",
            "set default to recovery, scratch that, rayos-3",
            "start windows, no, linux",
            "stop rebooting on hangs",
            "cancel the update",
            "how often is the watchdog petted",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }
}
