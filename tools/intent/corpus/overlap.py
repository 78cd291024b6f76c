#!/usr/bin/env python3
"""Lists the corpus lines that repeat a line of a measurement set: equal once both are
lower-cased with punctuation removed, a corpus line's placeholders counting as equal to any
of the values generate.py fills them with. Prints only the corpus side (file, line number,
line), never the measurement line, so that the sets stay unread. Checks the hand-written
files, generate.py's templates and out-of-scope list, and the compositional out-of-scope
lines negatives.py can draw (whether or not this run drew them).

    python3 tools/intent/corpus/overlap.py [SET.jsonl ...]   # default: dev and the probe sets

Exit status 1 when a line of a probe set is repeated (dev lines are tuning data and may be).
"""
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate as g  # noqa: E402
import negatives  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "..", "crates", "intent", "data")
DEFAULT_SETS = ["dev.jsonl", "probe.jsonl", "probe-b.jsonl", "probe-c.jsonl", "probe-d.jsonl"]


def norm(text):
    return " ".join(re.sub(r"[^a-z0-9 ]", "", text.lower().replace("-", " ").replace("/", " ")).split())


def alternation(values):
    return "(?:" + "|".join(re.escape(v) for v in sorted({norm(v) for v in values}, key=len, reverse=True)) + ")"


UNREGISTERED = ("(?:" + alternation(g.VM_UNREGISTERED_STEMS) + alternation([s for s in g.VM_UNREGISTERED_SUFFIXES if s] + [""])
                + "|" + alternation(g.SYLLABLES) + "{2,3}[12]?)")
SLOTS = {
    "vm": "(?:" + alternation(v for v, _ in g.VM_REGISTERED) + "|" + UNREGISTERED + ")",
    "disk": alternation(v for v, _ in g.DISK),
    "boot": alternation(v for v, _ in g.BOOT),
    "boot_n": alternation(str(n) for n in g.BOOT_N),
    "level": alternation(v for v, _ in g.LEVEL),
    "dur": alternation(v for v, _ in g.DUR),
    "dur_n": alternation(str(n) for n in g.DUR_N),
    "word": alternation(g.WORD + g.WORD_TAIL),
    "count": alternation(v for v, _ in g.COUNT),
    "count_n": alternation(str(n) for n in g.COUNT_N),
    "entry": alternation(v for v, _ in g.ENTRY),
    "action": alternation(g.DOCS_ACTIONS),
    "concept": alternation(g.DOCS_CONCEPTS),
}


def pattern(line):
    """The normalised line as a regular expression (None when it has no placeholders)."""
    parts = re.split(r"\{(\w+)\}", line)
    if len(parts) == 1:
        return None
    # normalise literal pieces, keep word boundaries around the slots
    tokens = []
    for i, part in enumerate(parts):
        if i % 2:
            tokens.append(SLOTS[part])
        else:
            lit = norm(part)
            if lit:
                tokens.append(re.escape(lit))
    return re.compile(" ".join(tokens))


def corpus_lines():
    for path in sorted(glob.glob(os.path.join(HERE, "hand-*.txt"))):
        with open(path) as f:
            for number, raw in enumerate(f, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                yield os.path.basename(path), number, line.partition(" || ")[0].strip()
    for intent, items in g.T.items():
        for item in items.replace("\n", "").split(";"):
            if item.strip():
                yield "generate.py T[" + intent + "]", 0, item.rsplit("|", 1)[0].strip()
    for item in g.OOS.replace("\n", "").split(";"):
        if item.strip():
            yield "generate.py OOS", 0, item.strip()
    for text in sorted(compositional_lines() - getattr(negatives, "LEFT_OUT", set())):
        yield "negatives.py", 0, text


def compositional_lines():
    """Every line negatives.compositional can draw."""
    n = negatives
    out = set()
    objects = [o for kind in n.OBJECTS.values() for o in kind]
    out.update(f.replace("{o}", o) for f in n.VERB_FRAMES for o in objects)
    out.update(f.replace("{a}", a) for f in n.QUESTION_FRAMES for a in n.THINGS_TO_ASK)
    out.update(f.replace("{e}", e) for f in n.EVENT_FRAMES for e in n.EVENTS)
    out.update(f.replace("{t}", t) for f in n.TASK_FRAMES for t in n.TASKS)
    out.update(f.replace("{t}", t).replace("{p}", p) for f in n.TECH_FRAMES for t in n.TECH_TASKS for p in n.PLATFORMS)
    out.update(f.replace("{c}", c) for f in n.CONCEPT_FRAMES for c in n.CONCEPTS)
    return out


def main():
    sets = sys.argv[1:] or [os.path.join(DATA, name) for name in DEFAULT_SETS]
    keys = {}
    for path in sets:
        name = os.path.basename(path)
        if name.startswith("heldout"):
            raise SystemExit("refusing to read a held-out set")
        with open(path) as f:
            for raw in f:
                keys.setdefault(norm(json.loads(raw)["text"]), set()).add(name)
    key_list = list(keys)
    found_probe = 0
    counts = {}
    seen = set()
    for where, number, line in corpus_lines():
        rx = pattern(line)
        if rx is None:
            hits = keys.get(norm(line), set())
        else:
            hits = set()
            for k in key_list:
                if rx.fullmatch(k):
                    hits |= keys[k]
        if not hits or (where, line) in seen:
            continue
        seen.add((where, line))
        for h in hits:
            counts[h] = counts.get(h, 0) + 1
        if any(h != "dev.jsonl" for h in hits):
            found_probe += 1
        print(f"{where}:{number}: {line}    [{', '.join(sorted(hits))}]")
    print("corpus lines repeating a line of:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
    sys.exit(1 if found_probe else 0)


if __name__ == "__main__":
    main()
