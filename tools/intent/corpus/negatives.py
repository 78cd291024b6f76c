"""Compositional out-of-scope lines for generate.py: RayOS's own verbs and question frames
applied to things RayOS does not manage (a car, the lights, a phone, a diet). They teach the
classifier that the verb alone ("restart", "install", "show", "arm") does not make a request
in scope: its object must be this machine, its VMs, disks, logs, network or settings.

Deterministic: the caller passes its seeded random generator.
"""

# Things that are not this machine, by kind. Kept apart from every in-scope object
# (machine, computer, system, os, box, host, vm, guest, disk, drive, log, network,
# watchdog, boot entry, ...).
OBJECTS = {
    "home": ["the lights", "the lamp", "the oven", "the heater", "the fan", "the air conditioner", "the tv",
             "the radio", "the fridge", "the kettle", "the coffee machine", "the dryer", "the microwave",
             "the sprinklers", "the porch light", "the thermostat", "the blender", "the toaster",
             "the ceiling fan", "the space heater", "the doorbell", "the garage door", "the blinds",
             "the curtains", "the faucet", "the shower", "the vacuum", "the robot vacuum", "the alarm clock",
             "the christmas lights", "the fireplace", "the hot tub", "the pool pump"],
    "vehicle": ["my car", "the car", "the truck", "my motorbike", "the engine", "the boat", "my scooter",
                "the lawn mower", "the tractor", "my bike", "the van"],
    "other_device": ["my phone", "my iphone", "my tablet", "my ipad", "the printer", "the router", "my laptop at work",
                     "my xbox", "the playstation", "my switch", "my smartwatch", "the smart speaker", "my kindle",
                     "my headphones", "my camera", "the projector", "my work computer", "my mom's pc",
                     "the office printer", "my old thinkpad", "my modem", "the security camera",
                     "my fitbit", "my chromebook", "my mac"],
    "media": ["the movie", "the song", "the music", "the podcast", "the playlist", "the video", "the episode",
              "the audiobook", "the radio station", "netflix", "spotify", "youtube", "the game", "the match",
              "the slideshow", "the presentation"],
    "life": ["my diet", "my workout", "my career", "my business", "my day", "my week", "the meeting",
             "the party", "the project", "my homework", "my taxes", "my budget", "a new hobby", "my garden",
             "the conversation", "my relationship", "the class", "the lesson", "my training plan"],
    "app": ["whatsapp", "zoom", "the banking app", "instagram", "tiktok", "chrome on my laptop", "photoshop",
            "microsoft word", "excel", "the calendar app", "my email app", "minecraft", "fortnite", "steam",
            "discord", "the weather app"],
    "thing": ["the rug", "the door", "the window", "the gate", "the car windows", "the lid",
              "the tap", "the washing machine", "the dishwasher", "the alarm system", "the burglar alarm",
              "the smoke alarm", "the timer", "a timer", "the stopwatch", "the clock on the wall", "my watch",
              "the oven timer", "the sprinkler system", "the pool", "the grill", "the furnace"],
}

VERB_FRAMES = [
    "start {o}", "stop {o}", "restart {o}", "reboot {o}", "shut down {o}", "shut off {o}", "turn off {o}",
    "turn on {o}", "switch off {o}", "switch on {o}", "power off {o}", "power on {o}", "power down {o}",
    "kill {o}", "open {o}", "close {o}", "show me {o}", "show {o}", "hide {o}", "install {o}",
    "uninstall {o}", "update {o}", "upgrade {o}", "reset {o}", "roll back {o}", "arm {o}", "disarm {o}",
    "enable {o}", "disable {o}", "connect {o}", "disconnect {o}", "launch {o}", "run {o}", "pause {o}",
    "check {o}", "list {o}", "fix {o}", "clean {o}", "lock {o}", "unlock {o}", "set up {o}", "boot up {o}",
    "fire up {o}", "bring up {o}", "start up {o}", "log {o}", "record {o}", "configure {o}", "repair {o}",
    "can you restart {o}", "please turn off {o}", "could you start {o}", "i need to reboot {o}",
    "how do i reset {o}", "how do i install {o}", "is {o} on", "is {o} running", "is {o} connected",
    "what version is {o}", "how much memory does {o} have", "how long has {o} been on",
    "how long has {o} been running", "what's wrong with {o}", "why did {o} crash",
    "why does {o} keep crashing", "{o} keeps crashing", "{o} won't start", "{o} won't turn on",
    "{o} is frozen", "{o} is broken", "{o} stopped working", "{o} crashed", "{o} needs a restart",
    "when does {o} start", "when will {o} stop", "what time does {o} start",
    "{o}, turn off", "{o} off", "{o} on", "{o} please", "status of {o}", "{o} status",
]

QUESTION_FRAMES = [
    "how much memory should {a} have", "how much ram does {a} need", "what cpu does {a} have",
    "how many cores does {a} have", "what version of {a} is the latest", "how long does {a} last",
    "what's the uptime of {a}", "how do i install {a}", "what disk size do i need for {a}",
    "best {a} to buy", "how much does {a} cost", "is {a} worth it", "compare {a} models",
    "what is the default password of {a}", "how do i reset {a} to factory settings",
    "what version of {a} should i get", "does {a} crash a lot",
    "how long does {a} take to boot", "how do i restart {a}", "can {a} run games", "what devices work with {a}",
]

# Questions about the time of events, help with tasks, general knowledge and other products'
# specs: the same question words as "what time is it", "help", "what is the watchdog" or
# "how much memory", about things that are not this machine.
EVENTS = ["the game", "the meeting", "sunset", "sunrise", "the concert", "my flight", "dinner", "the movie",
          "the match", "the next bus", "the party", "my appointment", "the eclipse", "the parade", "the show",
          "the train to london", "the webinar", "the dentist", "lunch", "the election", "high tide", "mass"]
EVENT_FRAMES = ["what time is {e}", "when is {e}", "how long until {e}", "what time does {e} start",
                "what time does {e} end", "is {e} today", "remind me about {e}", "what day is {e}",
                "how long is {e}", "when does {e} begin"]
TASKS = ["write an essay", "move house", "plan a party", "cook dinner", "fix my bike", "learn guitar",
         "do my taxes", "write a cover letter", "study for my exam", "find a job", "pick a gift", "lose weight",
         "train my dog", "paint the fence", "clean the garage", "name my cat", "plan a trip", "buy a car"]
TASK_FRAMES = ["help me {t}", "can you help me {t}", "i need help to {t}", "how do i {t}", "what's the best way to {t}",
               "tips to {t}", "i want to {t}", "show me how to {t}", "help, i have to {t}"]
CONCEPTS = ["blockchain", "an operating system", "gravity", "photosynthesis", "inflation", "a black hole",
            "machine learning", "a mortgage", "the stock market", "democracy", "dna", "a vaccine", "the internet",
            "cloud computing", "a neural network", "quantum computing", "a recession", "an algorithm", "linux",
            "windows 11", "a virus", "a kernel panic in android", "the cpu in my phone", "a hard drive"]
CONCEPT_FRAMES = ["what is {c}", "explain {c}", "tell me about {c}", "how does {c} work", "what's {c}",
                  "define {c}", "i don't understand {c}", "explain {c} simply", "what is {c} for"]

# The same tasks RayOS does, asked about another system: the platform makes it out of scope.
TECH_TASKS = ["check memory usage", "list disks", "see the uptime", "reboot", "read the logs", "find my ip address",
              "disable the firewall", "kill a process", "check the cpu temperature", "roll back an update",
              "install drivers", "boot from usb", "change the boot order", "free up disk space", "see crash dumps",
              "turn off wifi", "check the version", "set a default program", "start a virtual machine"]
PLATFORMS = ["in python", "on windows 10", "on my mac", "in ubuntu", "on an iphone", "in docker", "on android",
             "on a raspberry pi", "in excel", "on my chromebook", "in bash", "in powershell", "on my work laptop",
             "in virtualbox", "on my samsung tv", "on a ps5"]
TECH_FRAMES = ["how do i {t} {p}", "how to {t} {p}", "{t} {p}", "what's the command to {t} {p}",
               "can you tell me how to {t} {p}", "what's the shortcut to {t} {p}"]

THINGS_TO_ASK = ["a gaming pc", "an iphone", "a laptop for school", "a new tv", "a macbook", "a smart fridge",
                 "a router", "a tablet", "a nas", "a raspberry pi", "a drone", "a dashcam", "a car", "an e-bike",
                 "windows 11", "ubuntu", "a phone", "a printer", "a server rack at work", "an android phone",
                 "a smartwatch", "an xbox", "a playstation 5", "a nintendo switch", "a kindle", "a smart tv",
                 "a chromebook", "a gaming laptop", "an ipad", "a mesh router", "a 3d printer", "alexa"]


def compositional(rng, count):
    """`count` distinct out-of-scope lines, verb frames over the object kinds evenly."""
    kinds = sorted(OBJECTS)
    out, seen = [], set()
    attempts = 0
    while len(out) < count and attempts < count * 50:
        attempts += 1
        draw = rng.random()
        if draw < 0.6:
            frame = rng.choice(VERB_FRAMES)
            obj = rng.choice(OBJECTS[kinds[attempts % len(kinds)]])
            text = frame.replace("{o}", obj)
        elif draw < 0.72:
            text = rng.choice(QUESTION_FRAMES).replace("{a}", rng.choice(THINGS_TO_ASK))
        elif draw < 0.82:
            text = rng.choice(EVENT_FRAMES).replace("{e}", rng.choice(EVENTS))
        elif draw < 0.87:
            text = rng.choice(TASK_FRAMES).replace("{t}", rng.choice(TASKS))
        elif draw < 0.93:
            frame = rng.choice(TECH_FRAMES)
            text = frame.replace("{t}", rng.choice(TECH_TASKS)).replace("{p}", rng.choice(PLATFORMS))
        else:
            text = rng.choice(CONCEPT_FRAMES).replace("{c}", rng.choice(CONCEPTS))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out
