#!/usr/bin/env python3
"""Generates crates/intent/data/train.jsonl, the project-written training corpus of the RayOS
intent engine. Deterministic (fixed seed, fixed order); run it from anywhere:

    python3 tools/intent/corpus/generate.py

Two sources, both in this directory:
- the short templates `T` below (imperative, question and fragment forms per intent) and the
  general out-of-scope list `OOS`;
- the hand-written files `hand-*.txt`: for every intent, many phrasings in different
  registers (terse admin commands, chatty beginner questions, reversed word order,
  fragments, typos) and a large set of out-of-scope lines that reuse RayOS's words with
  another meaning ("crash course", "arm the burglar alarm"). Format: `## <label>` starts a
  section; every other non-blank line not starting with `#` is one example; placeholders
  `{vm} {disk} {boot} {boot_n} {level} {dur} {dur_n} {word} {count} {count_n} {entry}
  {action} {concept}` are filled from the lists below (each fill carries its entity
  annotation); `text || slot=value, slot=value` adds or overrides annotations.

Every source line appears once as written (placeholders filled), then decorated copies are
drawn until each intent has PER_INTENT examples: register prefixes and suffixes, keyboard
typos (swaps, drops, doubles, neighbour keys, dropped apostrophes), case and punctuation, and
dictated speech (no punctuation, split and misheard words, filler words; see `dictate`).
Each row's `source` is a hash of its line, so adding a line leaves the others' numbers (and
cross-validation folds) as they were.
Out-of-scope lines get the same decorations at the same rates, so that politeness, typos or
terseness never signal "in scope" by themselves.

Entity annotations follow the tools' HostWorld: VMs linux/windows/hostile (other names are
unregistered but still VM names when the text marks them: "the X vm", "vm X", or when
they end a VM command: "stop X"); disks
vda = 8 GiB = disk 1 and vdb = 32 GiB = disk 2; boot entries recovery, rayos-1, rayos-2,
rayos-3 (in that order); current boot 12. Log level convention: a level is annotated only
when the text names one ("errors", "warnings", "failures", "debug"); "why did it fail" or
"what went wrong" name no level.
"""
import glob
import json
import os
import random
import re
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from negatives import compositional  # noqa: E402

SEED = 20240611
PER_INTENT = 700
OOS_VARIANTS = 2  # decorated copies of each out-of-scope line, besides the line itself
COMPOSITIONAL_OOS = 1600  # lines from negatives.py (one decorated copy each)
DICTATED = 0.1  # share of decorated copies written as dictated speech (see `dictate`)

VM_REGISTERED = [("linux", "linux"), ("windows", "windows"), ("hostile", "hostile"), ("Linux", "linux"),
                 ("Windows", "windows"), ("linux", "linux"), ("windows", "windows"), ("hostile", "hostile")]
# Names no World registers: the engine must still read them where the text marks a VM.
VM_UNREGISTERED_STEMS = ["builder", "alpine", "db", "web", "scratch", "lab", "staging", "ci-runner", "game",
                         "mint", "fedora", "test", "router", "kali", "worker", "arch", "minecraft", "dev", "prod",
                         "cache", "proxy", "mail", "media", "vpn", "edge", "gpu", "k8s", "docker", "nas", "pihole",
                         "nix", "gentoo", "freebsd", "openbsd", "haiku", "reactos", "plan9", "redox", "temple",
                         "bench", "fuzz", "qa", "build", "render", "backup", "monitor", "jenkins", "gitlab",
                         "postgres", "redis", "kafka", "spark", "node", "api", "front", "back", "tor", "honeypot"]
VM_UNREGISTERED_SUFFIXES = ["", "", "1", "2", "3", "01", "02", "-a", "-b", "-test", "-old", "-new", "-2", "x", "-dev"]
SYLLABLES = ["ka", "ri", "lo", "mu", "ve", "to", "na", "zi", "po", "re", "sa", "qu", "di", "xo", "be", "fa"]


def unregistered_vm_name(rng):
    """A VM name no World registers: most are drawn so that each occurs rarely, as a user's
    own names would, so that the classifier cannot lean on any one of them."""
    if rng.random() < 0.5:
        return rng.choice(VM_UNREGISTERED_STEMS) + rng.choice(VM_UNREGISTERED_SUFFIXES)
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))) + rng.choice(["", "", "1", "2"])


VM_MARKED = re.compile(r"(\{vm\} (vm|guest|virtual machine)\b|\b(named|called) \{vm\}|^(\w+ )?vm \{vm\})")
DISK = [("vda", "vda"), ("vdb", "vdb"), ("disk 2", "vdb"), ("disk two", "vdb"), ("the second disk", "vdb"),
        ("the first disk", "vda"), ("disk 1", "vda"), ("the 8 GB disk", "vda"), ("the 32gb disk", "vdb"),
        ("the 32 GB drive", "vdb"), ("drive 2", "vdb"), ("/dev/vdb", "vdb"), ("/dev/vda", "vda"), ("sdb", "sdb"),
        ("nvme0n1", "nvme0n1"), ("the largest disk", "vdb"), ("the 2nd drive", "vdb"), ("disk number one", "vda"),
        ("the smaller disk", "vda"), ("vdc", "vdc"), ("the 8 gig drive", "vda"), ("the 32 gig disk", "vdb"),
        ("the bigger drive", "vdb"), ("the first drive", "vda"), ("the 1st disk", "vda"), ("VDB", "vdb")]
BOOT = [("the last boot", -1), ("the previous boot", -1), ("last boot", -1), ("boot 5", 5), ("boot number 3", 3),
        ("boot 12", 12), ("the boot before last", -2), ("two boots ago", -2), ("3 boots ago", -3),
        ("the prior boot", -1), ("the previous startup", -1), ("boot 7", 7), ("boot #9", 9), ("previous boot", -1),
        ("boot number four", 4), ("last startup", -1), ("this boot", 12), ("the current boot", 12),
        ("boot 2", 2), ("boot three", 3), ("boot 10", 10), ("the penultimate boot", -2), ("boot 1", 1)]
LEVEL = [("errors", "error"), ("error", "error"), ("warnings", "warn"), ("warning", "warn"), ("info", "info"),
         ("debug", "debug"), ("error", "error"), ("warn", "warn"), ("err", "error"), ("critical errors", "error"),
         ("failures", "error"), ("debug messages", "debug"), ("info messages", "info"), ("warns", "warn")]
# The words that name a log level (the engine's `Level::from_word`).
LEVEL_WORDS = {w: "error" for w in ("error", "errors", "err", "errs", "fatal", "critical", "failure", "failures")}
LEVEL_WORDS.update({w: "warn" for w in ("warn", "warning", "warnings", "warns")})
LEVEL_WORDS.update({w: "info" for w in ("info", "infos", "informational")})
LEVEL_WORDS.update({w: "debug" for w in ("debug", "verbose", "trace")})
DUR = [("30 seconds", 30), ("2 min", 120), ("1h", 3600), ("10 minutes", 600), ("five minutes", 300),
       ("an hour", 3600), ("90s", 90), ("45 sec", 45), ("two hours", 7200), ("half an hour", 1800),
       ("a minute", 60), ("15 mins", 900), ("1 hour", 3600), ("3 days", 259200), ("one minute", 60),
       ("thirty seconds", 30), ("120 seconds", 120), ("5m", 300), ("20 secs", 20), ("sixty seconds", 60),
       ("2 hours", 7200), ("1 day", 86400), ("twenty minutes", 1200), ("forty five seconds", 45),
       ("3 minutes", 180), ("ninety seconds", 90), ("10s", 10), ("2m", 120), ("1h30m", 5400), ("a day", 86400)]
DUR_N = [10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600]
WORD = ["timeout", "virtio", "panic", "page fault", "out of memory", "net0", "nvme", "pci", "apic", "ext4",
        "checksum", "blk", "oom", "gpt", "svm", "denied", "reset", "usb", "firmware", "acpi", "disk full",
        "link down", "watchdog", "segfault", "gpu", "interrupt", "dhcp", "tcp"]
# Search terms people look for, drawn with WORD at the same rate in total but each rarely, as
# a person's own terms would be: the classifier must not take an unusual term for a sign that
# the request is out of scope.
WORD_TAIL = ["ahci", "xhci", "e1000", "iommu", "tsc", "hpet", "smp", "numa", "mmio", "dma", "irq", "msi",
             "ioapic", "lapic", "nvme driver", "kernel bug", "null pointer", "stack overflow",
             "double fault", "general protection", "assertion failed", "mount", "fsck", "superblock", "sector",
             "bad block", "io error", "eth0", "link up", "carrier lost", "arp", "dns", "ntp", "clock skew", "rtc",
             "thermal", "throttling", "fan", "power button", "acpi error", "microcode", "bios", "uefi",
             "secure boot", "initrd", "module", "driver", "probe failed", "retry", "queue full", "descriptor",
             "ring buffer", "allocation failed", "heap", "leak", "slab", "page table", "tlb", "vmexit", "npt",
             "triple fault", "nmi", "soft lockup", "hung task", "deadlock", "mutex", "spinlock", "scheduler",
             "latency", "frame drop", "compositor", "framebuffer", "serial", "uart", "keyboard", "mouse",
             "partition", "gpt header", "crc", "mismatch", "corrupt", "refused", "unreachable", "overflow",
             "underrun", "stall", "hang", "freeze", "abort", "killed", "restarted", "shutdown", "login",
             "sshd", "vcpu", "guest", "hypervisor", "virtqueue", "msr", "cpuid", "ept", "vmcb", "nested paging",
             "boot loader", "kernel", "init", "alloc", "free list", "frame allocator", "paging", "tss", "gdt",
             "idt", "syscall", "exception", "breakpoint", "invalid opcode", "alignment", "bus error",
             "pcie", "bar", "config space", "vendor id", "smbios", "rsdp", "madt", "dsdt", "aml", "efi", "gop",
             "resolution", "display", "vga", "console", "shell", "prompt", "command", "policy", "denied access"]
COUNT = [("the last 20 lines", 20), ("50 lines", 50), ("the last 100 entries", 100), ("ten lines", 10),
         ("the last 5 messages", 5), ("200 lines", 200), ("the latest 30 entries", 30), ("the last fifty lines", 50),
         ("25 lines", 25), ("the last 15 messages", 15)]
COUNT_N = [5, 10, 15, 20, 25, 30, 40, 50, 100, 200]
ENTRY = [("rayos-1", "rayos-1"), ("rayos-2", "rayos-2"), ("rayos-3", "rayos-3"), ("RayOS-2", "rayos-2"),
         ("rayos 1", "rayos-1"), ("rayos 3", "rayos-3"), ("recovery", "recovery"),
         ("the recovery entry", "recovery"), ("Recovery", "recovery"), ("rayos-2", "rayos-2")]
BOOT_N = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 20]

T = {}
T["system.help"] = """
what do you support|q;list your features|imp;everything you can do|frag;what features are there|q;what are your abilities|q;
help|frag;show help|imp;what can you do|q;what commands are there|q;list the commands|imp;what can i ask you|q;
how do i use this thing|q;show me what you can do|imp;what are my options|q;help me|imp;i need help|frag;
commands|frag;what do you understand|q;show the help menu|imp;what can rayos do|q;what are the available commands|q;
how does this shell work|q;usage|frag;what can i type here|q;give me a list of things you can do|imp;
what are you able to do|q;which commands do you support|q;help please|frag;what should i type|q;
i'm lost, what can i do|q;what kind of requests do you understand|q;show all commands|imp;?|frag;
what are the things i can ask|q;how can you help me|q;what do you do|q;tell me the commands|imp""".strip()
T["system.version"] = """
version|frag;what version is this|q;which version of rayos am i running|q;show the os version|imp;
rayos version|frag;what build is this|q;kernel version|frag;print version info|imp;what release is installed|q;
tell me the version number|imp;which build are we on|q;show version|imp;what's the current version|q;
is this the latest rayos version|q;what version of the kernel is running|q;os version|frag;build number|frag;
display the rayos release|imp;version info|frag;which rayos release is this|q;report the software version|imp;
what commit was this built from|q;check the version|imp""".strip()
T["system.memory"] = """
mem|frag;how much memory is free|q;show memory usage|imp;ram usage|frag;how much ram do i have|q;memory stats|frag;
is memory running low|q;free memory|frag;how much memory is in use|q;check the heap|imp;display memory|imp;
what's the memory situation|q;how much ram is left|q;memory|frag;show ram|imp;how much memory does the system have|q;
memory info|frag;are we out of memory|q;print memory statistics|imp;how full is the ram|q;show me the memory usage|imp;
how many megabytes are free|q;total memory|frag;what is using the memory|q;heap usage|frag""".strip()
T["system.uptime"] = """
time since the last boot|frag;how much time since boot|q;time elapsed since startup|frag;how long since the last reboot|q;
uptime|frag;how long has the system been up|q;time since last reboot|frag;how long have we been running|q;
system uptime|frag;how long has rayos been running|q;show uptime|imp;how long since the machine started|q;
when did the system start|q;been up how long|q;how long has this machine been on|q;how long since startup|q;
show how long the system has been running|imp;tell me the uptime|imp;running time|frag;
how many hours has it been up|q;uptime please|frag;how long has the computer been on|q;check uptime|imp""".strip()
T["system.time"] = """
date|frag;what time is it|q;what's the date|q;current time|frag;show the clock|imp;what day is it today|q;
tell me the time|imp;what is today's date|q;show date and time|imp;what's the time now|q;time|frag;
the time please|frag;show the current date|imp;what's today|q;which day is it|q;what is the system time|q;
print the date|imp;clock|frag;what year is it|q;do you know what time it is|q;system clock|frag;
what's the date today|q;show me the time|imp""".strip()
T["system.cpu"] = """
cpu|frag;what processor is this|q;cpu info|frag;show cpu details|imp;how many cores|q;what cpu do i have|q;
processor model|frag;cpu features|frag;does the cpu support svm|q;cpu load|frag;how busy is the processor|q;
show processor information|imp;which cpu is in this machine|q;cpu usage|frag;how many cpus are there|q;
what is the cpu speed|q;list cpu flags|imp;processor|frag;show me the cpu|imp;is the cpu busy|q;
what kind of processor does this run on|q;cpu model and cores|frag;how fast is the cpu|q""".strip()
T["system.devices"] = """
what's attached to this computer|q;what is hooked up to the machine|q;connected devices|frag;show everything connected|imp;
devices|frag;list devices|imp;what hardware is attached|q;show pci devices|imp;which devices are connected|q;
show me the hardware|imp;enumerate devices|imp;what virtio devices are there|q;list the peripherals|imp;
hardware inventory|frag;show all devices|imp;what devices do you see|q;list hardware|imp;device list|frag;
which pci devices are present|q;scan for devices|imp;what is plugged in|q;show the device tree|imp;
what hardware does this machine have|q;list connected hardware|imp;hardware|frag;show attached devices|imp""".strip()
T["system.reboot"] = """
reboot|frag;restart the computer|imp;reboot the system|imp;restart rayos|imp;reboot now|frag;restart the machine|imp;
power cycle the machine|imp;do a reboot|imp;reboot the box|imp;restart everything|imp;restart the system|imp;
reboot the computer|imp;can you reboot|q;warm reboot|frag;restart the os|imp;reboot rayos|imp;system restart|frag;
restart the whole machine|imp;please restart the pc|imp;reboot the host|imp;start the computer again|imp;
restart|frag;reboot the machine now|imp;could you restart the system|q""".strip()
T["system.shutdown"] = """
shutdown|frag;shut down|imp;power off|imp;turn off the computer|imp;shut the system down|imp;halt the machine|imp;
power down|imp;turn it off|imp;switch off the machine|imp;poweroff|frag;shut down the computer|imp;
shut down rayos|imp;turn the machine off|imp;power off the system|imp;halt|frag;shutdown now|frag;
switch the computer off|imp;kill the power|imp;shut everything down|imp;turn off the pc|imp;
can you shut down|q;power the host off|imp;shut down the host|imp""".strip()
T["log.show"] = """
show the log|imp;show logs|imp;display the system log|imp;open the log|imp;print the log|imp;
show me the log from {boot}|imp;logs from {boot}|frag;show {level}|imp;any {level} since {dur} ago|q;
show {level} from {boot}|imp;show the log containing {word}|imp;search the logs for "{word}"|imp;
why did the last startup fail|q;what went wrong during the previous boot|q;show {level} messages|imp;
{count} of the log|frag;tail the log|imp;show {level} level logs since {dur}|imp;grep the log for {word}|imp;
{level} in the last hour|frag;show me log entries mentioning {word}|imp;show the kernel messages|imp;dmesg|frag;
what did the system log say|q;log show|frag;show {level} logs from the past {dur}|imp;were there any {level} in {boot}|q;
show log entries containing "{word}" from {boot}|imp;what happened during {boot}|q;show the log of {boot}|imp;
any {level} in the logs|q;show the last {dur} of logs|imp;find "{word}" in the log|imp;log entries about {word}|frag;
what errors happened since {dur} ago|q;show me {count} of the log|imp;logs with level {level}|frag;
why did {boot} fail|q;what went wrong on {boot}|q;read the log|imp;view the logs|imp;show recent log messages|imp;
{level} logs|frag;did anything fail during {boot}|q;show everything logged in the last {dur}|imp;
check the logs for {word}|imp;were there {level} since {dur} ago|q;show {boot} log|imp;journal|frag;
what does the log say about {word}|q;list log messages since {dur} ago|imp""".strip()
T["log.boots"] = """
boots|frag;list of boots|frag;show boots|imp;boots recorded|frag;
log boots|frag;list boots|imp;show boot history|imp;how many times has it booted|q;list previous boots|imp;
list all recorded boots|imp;boot history|frag;when did it boot before|q;show the list of boots|imp;
which boots are recorded|q;show all boots|imp;how many boots are in the log|q;list the boot records|imp;
past boots|frag;when were the previous boots|q;show the boots the log knows about|imp;boot log index|frag;
how many times did the system start|q;enumerate boots|imp;list boot sessions|imp;which boots do you have logs for|q""".strip()
T["crash.list"] = """
show me the crash list|imp;show crash records|imp;crash records|frag;list the crash reports|imp;
crash list|frag;list crashes|imp;show crash reports|imp;have there been any crashes|q;any crashes|q;
did anything crash|q;show all crash records|imp;how many crashes|q;crash history|frag;list kernel panics|imp;
were there panics|q;show the crashes|imp;list crash dumps|imp;has the system crashed before|q;crashes|frag;
did the kernel panic recently|q;show me every crash|imp;any kernel panics so far|q;list all panics|imp;
how often has it crashed|q;show recorded crashes|imp""".strip()
T["crash.show"] = """
crash show|frag;show the latest crash|imp;show the last crash|imp;details of the crash in {boot}|frag;
show the crash from {boot}|imp;what was the last panic|q;open the most recent crash report|imp;why did it crash|q;
show me the crash dump from {boot}|imp;what caused the crash|q;display the panic message|imp;
show the crash record of {boot}|imp;what happened in the last crash|q;show details of the most recent panic|imp;
why did the kernel panic|q;show the newest crash report|imp;crash details|frag;what was the crash in {boot}|q;
explain the latest crash|imp;show the backtrace of the last crash|imp;panic details for {boot}|frag;
open the crash report|imp;last crash|frag""".strip()
T["watchdog.status"] = """
watchdog status|frag;is the watchdog armed|q;show watchdog|imp;watchdog state|frag;is the watchdog running|q;
check the watchdog|imp;what's the watchdog timeout|q;is the watchdog on|q;watchdog|frag;show the watchdog status|imp;
is the watchdog enabled|q;how long until the watchdog fires|q;what is the watchdog doing|q;watchdog info|frag;
tell me if the watchdog is active|imp;has the watchdog been disarmed|q;is the hardware watchdog ticking|q;
report watchdog state|imp""".strip()
T["watchdog.arm"] = """
arm the watchdog|imp;arm watchdog for {dur}|imp;enable the watchdog|imp;turn on the watchdog with a {dur} timeout|imp;
start the watchdog|imp;set the watchdog to {dur}|imp;re-arm the watchdog|imp;activate the watchdog timer for {dur}|imp;
watchdog arm|frag;arm the watchdog with {dur}|imp;arm the watchdog, timeout {dur}|imp;switch the watchdog on|imp;
put the watchdog back on|imp;arm the watchdog for {dur} please|imp;enable watchdog {dur}|frag;
set a watchdog timeout of {dur}|imp;rearm watchdog|frag;turn the watchdog on|imp;watchdog on|frag;
can you arm the watchdog for {dur}|q;arm it for {dur}|imp""".strip()
T["watchdog.disarm"] = """
disarm the watchdog|imp;turn off the watchdog|imp;disable watchdog|imp;stop the watchdog|imp;
deactivate the watchdog timer|imp;kill the watchdog|imp;watchdog off|frag;watchdog disarm|frag;
switch the watchdog off|imp;disable the watchdog timer|imp;turn the watchdog off|imp;
i don't want the watchdog|frag;stop the watchdog from rebooting|imp;cancel the watchdog|imp;
can you disarm the watchdog|q;shut off the watchdog|imp;disarm it|imp""".strip()
T["disk.list"] = """
disks|frag;list disks|imp;show drives|imp;what disks are attached|q;show storage devices|imp;how many disks do i have|q;
which drives are available|q;show disk sizes|imp;list block devices|imp;storage overview|frag;list the drives|imp;
what storage is there|q;show all disks|imp;disk list|frag;which disks can i install to|q;how big are the disks|q;
list storage|imp;show me the hard drives|imp;what block devices exist|q;drives|frag;show the disks and their sizes|imp""".strip()
T["install.run"] = """
install rayos|imp;install to {disk}|imp;install on {disk}|imp;install rayos on {disk}|imp;put rayos on {disk}|imp;
install the os to the hard drive|imp;copy rayos to {disk}|imp;set up rayos on {disk}|imp;install onto {disk}|imp;
do an install|imp;install|frag;install the system|imp;install rayos to disk|imp;write rayos to {disk}|imp;
i want to install rayos on {disk}|frag;install it to {disk}|imp;install rayos onto the disk|imp;
make {disk} a rayos install|imp;format {disk} and install rayos|imp;install the operating system|imp;
run the installer|imp;start the installer on {disk}|imp;can you install rayos on {disk}|q;install to disk|imp""".strip()
T["bootmgr.list"] = """
bootmgr list|frag;list boot entries|imp;show boot menu entries|imp;what can i boot|q;which boot options are there|q;
show the boot manager|imp;list the installations|imp;show boot configuration|imp;what is the default boot entry|q;
boot entries|frag;show the boot menu|imp;list bootable entries|imp;which entry boots by default|q;
what boot entries exist|q;show boot options|imp;list the boot manager entries|imp;boot menu|frag;
which installations can i boot|q;display boot entries|imp""".strip()
T["bootmgr.set_default"] = """
set the default boot entry to {entry}|imp;make {entry} the default|imp;boot {entry} by default|imp;
change default boot to {entry}|imp;use {entry} as default boot option|imp;set default entry to {entry}|imp;
default to {entry}|imp;bootmgr default {entry}|frag;always boot {entry}|imp;switch the default boot to {entry}|imp;
make {entry} boot by default|imp;set {entry} as the default|imp;change the default boot entry|imp;
pick {entry} as default|imp;i want {entry} to be the default boot|frag;select {entry} as the default installation|imp;
next time boot {entry} by default|imp;can you make {entry} the default|q""".strip()
T["recovery.status"] = """
could we roll back|q;is it possible to roll back|q;can i revert|q;would a rollback work|q;can the update be undone|q;
recovery status|frag;is recovery available|q;show recovery state|imp;can i roll back|q;is there a previous installation|q;
recovery info|frag;check recovery|imp;what's the rollback state|q;show recovery|imp;is rollback possible|q;
recovery|frag;what would a rollback restore|q;do i have a recovery image|q;show the recovery status|imp;
is a fallback installation present|q;recovery state|frag;is there something to roll back to|q;
tell me about the recovery state|imp""".strip()
T["recovery.rollback"] = """
recovery rollback|frag;roll back|imp;rollback to the previous version|imp;undo the last update|imp;
revert to the old installation|imp;go back to the previous install|imp;restore the previous system|imp;
roll back the upgrade|imp;rollback|frag;revert the update|imp;roll back to the last good version|imp;
undo the upgrade|imp;restore the old version|imp;go back to the last working system|imp;revert rayos|imp;
roll the system back|imp;do a rollback|imp;can you roll back the update|q;downgrade to the previous release|imp""".strip()
T["vm.list"] = """
vm list|frag;list vms|imp;what virtual machines are there|q;show guests|imp;which vms are running|q;
list virtual machines|imp;show all vms|imp;what guests do i have|q;vm status|frag;vms|frag;show the vms|imp;
list the guests|imp;which virtual machines exist|q;how many vms are there|q;show running guests|imp;
are any vms running|q;list all virtual machines|imp;what vms are configured|q;guests|frag""".strip()
T["vm.start"] = """
start {vm}|imp;boot the {vm} vm|imp;launch the {vm} guest|imp;run {vm}|imp;power on the vm {vm}|imp;start a vm|imp;
spin up {vm}|imp;fire up the {vm} virtual machine|imp;bring up {vm}|imp;start the {vm} vm|imp;boot {vm}|imp;
vm start {vm}|frag;start the virtual machine|imp;launch {vm}|imp;turn on the {vm} vm|imp;start up {vm}|imp;
power up the {vm} guest|imp;can you start {vm}|q;i want to run {vm}|frag;start the guest|imp;
open a {vm} vm|imp;get {vm} running|imp;boot up the {vm} machine|imp;start {vm} please|imp""".strip()
T["vm.stop"] = """
stop {vm}|imp;shut down the {vm} vm|imp;kill the {vm} guest|imp;power off {vm}|imp;halt the vm|imp;
stop the virtual machine {vm}|imp;turn off {vm}|imp;terminate the {vm} guest|imp;vm stop {vm}|frag;
stop the {vm} vm|imp;shut {vm} down|imp;stop the guest|imp;power down the {vm} virtual machine|imp;
kill {vm}|imp;end the {vm} vm|imp;can you stop {vm}|q;halt {vm}|imp;shut down {vm}|imp;stop the vm|imp;
turn the {vm} guest off|imp;force off {vm}|imp""".strip()
T["vm.restart"] = """
restart {vm}|imp;reboot the {vm} vm|imp;restart the guest|imp;bounce the {vm} vm|imp;
reset the {vm} virtual machine|imp;reboot {vm}|imp;vm restart {vm}|frag;restart the {vm} vm|imp;
reboot the guest|imp;restart the virtual machine|imp;power cycle {vm}|imp;restart the vm|imp;
reboot the {vm} guest|imp;can you restart {vm}|q;give {vm} a restart|imp;restart {vm} now|imp;
reset {vm}|imp;stop and start {vm} again|imp""".strip()
T["vm.show"] = """
show {vm}|imp;show the {vm} vm|imp;switch to the {vm} console|imp;bring the {vm} window to the front|imp;
display the {vm} guest|imp;open the vm screen|imp;focus {vm}|imp;let me see the {vm} desktop|imp;vm show {vm}|frag;
show me {vm}|imp;show the {vm} screen|imp;go to {vm}|imp;put {vm} on screen|imp;view the {vm} vm|imp;
switch to {vm}|imp;show the guest|imp;open the {vm} window|imp;bring up the {vm} display|imp;i want to see {vm}|frag""".strip()
T["vm.hide"] = """
hide {vm}|imp;hide the {vm} vm|imp;minimize the {vm} guest|imp;close the vm window|imp;
put {vm} in the background|imp;hide the guest screen|imp;vm hide {vm}|frag;hide the {vm} window|imp;
minimise {vm}|imp;get {vm} off the screen|imp;send {vm} to the background|imp;hide the vm|imp;
stop showing {vm}|imp;close the {vm} display|imp;take {vm} off screen|imp;hide the {vm} screen|imp""".strip()
T["net.status"] = """
net status|frag;network status|frag;is the network up|q;am i online|q;show network config|imp;what's my ip address|q;
is networking enabled|q;check connectivity|imp;network info|frag;is the internet on|q;show the network|imp;
is the network enabled|q;what is the ip|q;show network interfaces|imp;are we connected|q;network|frag;
do we have network access|q;show the network state|imp;is the nic up|q;what's the network doing|q;
is the machine offline|q""".strip()
T["net.enable"] = """
connect this machine to the internet|imp;hook up the network|imp;connect the network|imp;put the machine online|imp;
net enable|frag;enable networking|imp;turn on the network|imp;connect to the network|imp;bring the network up|imp;
go online|imp;enable internet access|imp;switch on networking|imp;enable the network|imp;network on|frag;
turn networking on|imp;allow network access|imp;activate the network|imp;get online|imp;bring up the nic|imp;
can you enable the network|q;i need internet|frag;connect to the internet|imp;start networking|imp""".strip()
T["net.disable"] = """
net disable|frag;disable the network|imp;turn off networking|imp;go offline|imp;disconnect from the network|imp;
cut the network|imp;bring the network down|imp;kill internet access|imp;network off|frag;disable networking|imp;
turn the network off|imp;block network access|imp;deactivate the network|imp;take the machine offline|imp;
disconnect the internet|imp;stop networking|imp;can you disable the network|q;shut down the network|imp""".strip()
T["policy.show"] = """
what needs confirmation|q;what requires approval|q;which commands need a confirmation|q;what is restricted|q;
policy show|frag;show the policy|imp;what is the security policy|q;display policies|imp;what am i allowed to do|q;
show permissions|imp;list policy rules|imp;which actions need confirmation|q;show the access policy|imp;
policy|frag;show security rules|imp;what are the rules|q;what does the policy allow|q;print the policy|imp;
current policy|frag;which operations are restricted|q;what is permitted|q;show the network policy|imp;
list the permissions|imp""".strip()

DOCS_ACTIONS = ["install rayos", "enable networking", "add a disk", "arm the watchdog", "roll back an update",
                "start a vm", "change the default boot entry", "read the crash records", "register a new vm",
                "use the shell", "update rayos", "see the logs of an earlier boot", "give a vm network access",
                "configure the policy", "recover from a failed update", "share a folder with a vm"]
DOCS_CONCEPTS = ["the watchdog", "recovery", "the boot manager", "system 2", "the persistent log", "a crash record",
                 "the conductor", "the intent engine", "the hypervisor", "virtio", "boot counting", "the policy engine",
                 "the compositor", "a boot entry", "rollback", "the shell", "the reflex engine", "markers"]
T["docs.ask"] = """
what is the watchdog|q;what is the watchdog for|q;what does the watchdog do|q;explain the watchdog|imp;what is recovery|q;what is a boot entry|q;what is the network policy|q;what is a crash record|q;what is a virtual machine|q;how does the watchdog work|q;why is there a watchdog|q;
what is {concept}|q;what is {concept}|q;what are {concept}|q;how does {concept} work|q;what is {concept} for|q;
how do i {action}|q;how can i {action}|q;what is {concept}|q;explain {concept}|imp;tell me about {concept}|imp;
how does {concept} work|q;where can i read about {concept}|q;ask how do i {action}|frag;ask what is {concept}|frag;
what does {concept} do|q;is there documentation on {concept}|q;how do you {action}|q;what's the way to {action}|q;
why does rayos use {concept}|q;what happens when the watchdog fires|q;how are crashes recorded|q;
where is the log stored|q;what file systems does rayos support|q;what's the difference between rollback and reinstall|q;
what does the vm show command do|q;how does rayos handle a failed update|q;how is {concept} configured|q;
documentation for {concept}|frag;i'd like to know how to {action}|frag;what is the purpose of {concept}|q;
can you explain how to {action}|q;manual page for {concept}|frag;is it possible to {action}|q""".strip()

OOS = """
tell me about the history of france;tell me about dinosaurs;what is a black hole;explain quantum physics;how does a car engine work;what is photosynthesis;who was napoleon;explain how vaccines work;what is the stock market;tell me about the moon landing;
set a timer for 10 minutes;play some music;what's the weather in paris;book me a flight to london;tell me a joke;
order a pizza;send an email to bob;call mom;what is the capital of france;translate hello to spanish;
turn on the lights;remind me to buy milk;how tall is mount everest;start the car;stop the music;restart my phone;
show me pictures of cats;list my contacts;install spotify;show my calendar;open youtube;
enable bluetooth on my phone;what's the score of the game;how do i bake bread;who won the world cup;
set an alarm for 7 am;what's 15 times 23;find a restaurant nearby;how much is a bitcoin;
read me the news;what's my bank balance;transfer money to alice;schedule a meeting tomorrow;
what is the meaning of life;sing me a song;how old are you;are you a robot;what is your name;
who made you;good morning;thank you;goodbye;what should i eat for dinner;recommend a movie;
how do i change a tire;what's the traffic like;navigate to the airport;start a new playlist;
shut up;turn up the volume;mute the tv;what's the population of china;define serendipity;
how many calories in an apple;buy more paper towels;cancel my reservation;check my credit score;
what time does the store close;how far is the moon;write a poem about the sea;show my shopping list;
roll a dice;flip a coin;restart the router;turn off the oven;show me my photos;delete my account;
log me into facebook;show the stock price of apple;install a new tire;what's the best laptop to buy;
how do i fix my car;update my address;reset my password for gmail;when is my flight;
track my package;start the dishwasher;stop the washing machine;list my emails;show the weather forecast;
open the garage door;lock the front door;how do i cook rice;what is love;blah blah blah;asdfghjkl;
hmm;lol;qwerty uiop;the quick brown fox jumps over the lazy dog;i like turtles;
my computer at work is slow;what is linux;who invented windows;how much does windows cost;
how do i install python on my laptop;show me a picture of a disk;what's a good name for a dog;
pay my electricity bill;what's the exchange rate for euros;find me a hotel in rome;
boot camp near me;are there any good crash diets;what are the warning signs of a stroke;
give me a recipe for lasagna;how do i get rid of a cold;where is my phone;
how is the weather in berlin;when does the sun set;plan a trip to japan;what's trending on twitter""".strip()

PREFIX_IMP = ["", "", "", "", "", "please ", "can you ", "could you ", "could you please ", "hey ", "hey rayos ",
              "rayos, ", "ok ", "i want to ", "i'd like to ", "i need to ", "i wanna ", "go ahead and ",
              "kindly ", "pls ", "would you ", "now ", "quickly ", "just ", "sorry, can you ", "hi, please ",
              "ok so ", "right, ", "alright, ", "i'm new here, can you ", "im debugging, ", "quick one: ",
              "would you mind if you ", "is it possible to ", "would you mind to ", "i would like you to ",
              "please can you ", "you can ", "i want that you ", "be so kind and ", "may i ask you to ",
              "is there a way to ", "help me to ", "i'd appreciate it if you could ", "if possible ",
              "could you kindly ", "would you be so kind as to ", "can you please ", "please, ",
              "do me a favour and ", "i would like to ", "i need you to ", "umm ", "uhh, ", "erm "]
PREFIX_Q = ["", "", "", "", "", "hey ", "hey rayos, ", "rayos ", "quick question: ", "um ", "so ", "ok so ",
            "tell me, ", "i wonder ", "sorry, ", "hi, ", "im new, ", "just curious, ", "one question: ",
            "i was wondering, ", "can you tell me ", "could you tell me ", "do you know ",
            "i would like to know ", "i want to know ", "please tell me ", "may i know ", "can i ask ",
            "i need to know ", "tell me please ", "i'd like to know ", "let me know ", "umm ", "erm, "]
PREFIX_FRAG = ["", "", "", "", "", "", "", "rayos ", "hey ", "uh ", "ok ", "so, ", "hmm, "]
SUFFIX = ["", "", "", "", "", "", "", "", " please", " now", " for me", " thanks", " right now", "?", ".", "!",
          " pls", " thx", " thank you", " asap", " if you can", " real quick", " again", "??", "...", " plz",
          " please and thank you", " when you can", " :)", " ok?", ", thanks"]
# Chatter around a request, in the registers of people new to the system, in a hurry, or
# mid-task. Used for in-scope and out-of-scope lines alike, at the same rate.
CHATTER_BEFORE = [
    "sorry, i'm new to this, ", "not sure if this is the right place but ", "this is probably a dumb question but ",
    "i'm still learning rayos, ", "hello! first time here. ", "ok i give up, ", "before i forget, ",
    "my colleague told me to ask: ", "real quick, ", "hey there, ", "hi there! ", "good morning, ",
    "excuse me, ", "question for you: ", "ok, next thing: ", "one more thing, ", "while i'm at it, ",
    "so basically ", "honestly ", "i have a question, ", "i was told you can help, ", "is this working? ",
    "testing this out: ", "let's see if you understand this: ", "i'm in a hurry, ", "urgent: ", "fyi, ",
    "i'm on call tonight and ", "i'm setting up this box, ", "i'm trying something, ", "as a newbie, ",
    "ugh, ", "hmm ok, ", "right then, ", "well, ", "quick favour: ", "dear rayos, ", "yo ", "hey buddy, ",
    "i'm confused, ", "i'm a bit lost here, ", "not a tech person, ", "i'm a developer, ",
    "hello, i am a student and ", "sorry for my english, ", "i am not a native speaker, ",
    "my teacher said to ask you: ", "i have a small problem, ", "good afternoon, ", "dear system, ",
    "hello computer, ", "um so ", "uh ", "okay so basically ", "i don't know much about computers but ",
    "i hope this is the right way to ask: ", "forgive me if this is obvious, ",
]
CHATTER_AFTER = [
    ", i'm new here", ", sorry", ", thanks a lot", ", cheers", ", if that's possible", ", i think",
    " or something like that", ", not sure how", " for a test", " before i leave", ", it's urgent",
    ", thank you so much", " please, i'm in a hurry", ", i'm curious", " when you get a chance", ", cheers mate",
    " if you don't mind", ", appreciate it", ", ty", ", much appreciated", " (just checking)", ", haha",
    " lol", " btw", ", i guess", " - thanks!", ", that's all", ", nothing else",
    ", thank you in advance", ", if it is not a problem", ", i would appreciate it", " please and thanks",
    ", sorry for my bad english", ", many thanks", ", best regards", " (i am new)", ", is it possible?",
]
# How speech-to-text and people typing as they speak write some words: split compounds,
# spelled-out letters and homophones. Applied word by word to in-scope and out-of-scope lines
# alike (see `dictate`), never to names, numbers or devices, so the annotations stay true.
SPOKEN = {
    "reboot": ["re boot", "re-boot"], "rebooting": ["re booting"], "restart": ["re start", "re-start"],
    "watchdog": ["watch dog", "watch-dog"], "uptime": ["up time"], "shutdown": ["shut down"],
    "poweroff": ["power off"], "vm": ["v m", "vee em"], "vms": ["v ms", "v m s"], "rayos": ["ray os", "ray o s"],
    "bootmgr": ["boot manager"], "disk": ["disc"], "disks": ["discs"], "network": ["net work"],
    "online": ["on line"], "offline": ["off line"], "rollback": ["roll back"], "setup": ["set up"],
    "ip": ["i p"], "wifi": ["wi fi"], "their": ["there"], "there": ["their"],
    "what's": ["what is", "whats"], "it's": ["it is", "its"], "i'm": ["i am", "im"], "don't": ["do not", "dont"],
    "you're": ["your"], "know": ["no"], "right": ["write"],
}
FILLERS = ["um", "uh", "so", "like", "okay so", "er", "hmm", "ok um"]


def dictate(text, rng, entities):
    """The line as dictated: lower case, no punctuation, some words split or misheard, now
    and then a filler word. The words of annotated values stay as written, and so does "vm"
    next to a VM name no World registers (it is what marks the name)."""
    protected = set()
    for value in entities.values():
        if isinstance(value, str):
            protected.update(value.lower().split())
    if entities.get("vm") not in (None, "linux", "windows", "hostile"):
        protected.update(("vm", "vms", "guest"))
    words = re.sub(r"[?!.,;:()\"]", " ", text.lower()).split()
    if "boot" in entities and rng.random() < 0.5:
        words = " ".join(words).replace("two boots", "to boots").split()
    out = []
    for w in words:
        variants = None if w in protected else SPOKEN.get(w)
        out.append(rng.choice(variants) if variants and rng.random() < 0.6 else w)
    if rng.random() < 0.3:
        out.insert(0, rng.choice(FILLERS))
    if len(out) > 3 and rng.random() < 0.15:
        out.insert(rng.randrange(1, len(out)), rng.choice(["um", "uh", "like"]))
    return " ".join(out)


KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def neighbours(c):
    for r, row in enumerate(KEYBOARD_ROWS):
        i = row.find(c)
        if i >= 0:
            out = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(KEYBOARD_ROWS):
                    other = KEYBOARD_ROWS[rr]
                    out.extend(other[j] for j in (i - 1, i) if 0 <= j < len(other))
            return out
    return [c]


def typo(word, rng):
    """One realistic slip: swap of neighbours, dropped, doubled or neighbour key."""
    if "'" in word and rng.random() < 0.5:
        return word.replace("'", "")
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(5)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind in (1, 2):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 3:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(neighbours(word[i])) + word[i + 1:]


def fill(template, rng):
    entities = {}
    text = template
    if "{vm}" in text:
        if VM_MARKED.search(text) and rng.random() < 0.35:
            name = unregistered_vm_name(rng)
            surface, value = name, name
        else:
            surface, value = rng.choice(VM_REGISTERED)
        text = text.replace("{vm}", surface)
        entities["vm"] = value
    if "{disk}" in text:
        surface, value = rng.choice(DISK)
        text = text.replace("{disk}", surface)
        entities["disk"] = value
    if "{boot}" in text:
        surface, value = rng.choice(BOOT)
        text = text.replace("{boot}", surface)
        entities["boot"] = value
    if "{boot_n}" in text:
        n = rng.choice(BOOT_N)
        text = text.replace("{boot_n}", str(n))
        entities["boot"] = n
    if "{level}" in text:
        surface, value = rng.choice(LEVEL)
        text = text.replace("{level}", surface)
        entities["level"] = value
    if "{dur}" in text:
        surface, value = rng.choice(DUR)
        text = text.replace("{dur}", surface)
        entities["seconds"] = value
    if "{dur_n}" in text:
        n = rng.choice(DUR_N)
        text = text.replace("{dur_n}", str(n))
        entities["seconds"] = n
    if "{word}" in text:
        word = rng.choice(WORD) if rng.random() < 0.5 else rng.choice(WORD_TAIL)
        text = text.replace("{word}", word)
        entities["text"] = word
    if "{count}" in text:
        surface, value = rng.choice(COUNT)
        text = text.replace("{count}", surface)
        entities["count"] = value
    if "{count_n}" in text:
        n = rng.choice(COUNT_N)
        # "first 20 lines" counts the oldest records (log show --head), not the newest.
        oldest = any(f"{w} {{count_n}}" in text for w in ("first", "oldest", "earliest"))
        text = text.replace("{count_n}", str(n))
        entities["head" if oldest else "count"] = n
    if "{entry}" in text:
        surface, value = rng.choice(ENTRY)
        text = text.replace("{entry}", surface)
        entities["entry"] = value
    if "{action}" in text:
        text = text.replace("{action}", rng.choice(DOCS_ACTIONS))
    if "{concept}" in text:
        text = text.replace("{concept}", rng.choice(DOCS_CONCEPTS))
    return text, entities


def implied(intent, text, entities):
    """Slots the wording itself names, kept in the annotation so that the corpus and the
    engine's extraction rules agree ("the last hour", "the last boot")."""
    lower = text.lower()
    if intent == "log.show":
        if "level" not in entities:
            for word in re.findall(r"[a-z]+", lower):
                level = LEVEL_WORDS.get(word)
                if level:
                    entities["level"] = level
                    break
        if "seconds" not in entities and re.search(r"\b(last|past) hour\b", lower):
            entities["seconds"] = 3600
        if "boot" not in entities and re.search(r"\b(last|previous) boot\b", lower):
            entities["boot"] = -1
    return entities


def decorate(text, kind, rng, entities=None):
    prefix = rng.choice({"imp": PREFIX_IMP, "q": PREFIX_Q, "frag": PREFIX_FRAG}[kind])
    suffix = rng.choice(SUFFIX)
    if kind == "q" and rng.random() < 0.4:
        suffix = "?"
    out = prefix + text + suffix
    if rng.random() < 0.12:
        out = rng.choice(CHATTER_BEFORE) + out
    if rng.random() < 0.08:
        out = out.rstrip("?.!") + rng.choice(CHATTER_AFTER)
    if rng.random() < DICTATED:
        return dictate(out, rng, entities or {})
    r = rng.random()
    if r < 0.30:
        words = out.split(" ")
        for _ in range(1 if rng.random() < 0.8 else 2):
            j = rng.randrange(len(words))
            words[j] = typo(words[j], rng)
        out = " ".join(words)
    elif r < 0.37:
        out = out.capitalize()
    elif r < 0.39:
        out = out.upper()
    elif r < 0.45:
        out = out.replace(",", "").replace("?", "").replace("'", "")
    return out


def kind_of(text):
    first = text.split(" ")[0].lower() if text else ""
    if text.endswith("?") or first in ("what", "what's", "whats", "which", "how", "is", "are", "am", "do",
                                       "does", "did", "can", "could", "when", "where", "why", "who", "will",
                                       "has", "have", "were", "was", "any"):
        return "q"
    if len(text.split()) <= 2:
        return "frag"
    return "imp"


def read_hand(directory):
    """Sections of the hand-written files: {label: [(text, annotations)]}, files in name order."""
    sections = {}
    for path in sorted(glob.glob(os.path.join(directory, "hand-*.txt"))):
        label = None
        with open(path) as f:
            for number, raw in enumerate(f, 1):
                line = raw.strip()
                if line.startswith("## "):
                    label = line[3:].strip()
                    sections.setdefault(label, [])
                    continue
                if not line or line.startswith("#"):
                    continue
                if label is None:
                    raise SystemExit(f"{path}:{number}: example before any '## <label>' line")
                text, _, notes = line.partition(" || ")
                annotations = {}
                for pair in filter(None, (p.strip() for p in notes.split(","))):
                    key, _, value = pair.partition("=")
                    annotations[key.strip()] = int(value) if key.strip() in ("boot", "seconds", "count") else value.strip()
                sections[label].append((text.strip(), annotations))
    return sections


def main():
    rng = random.Random(SEED)
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "..", "..")
    out_path = os.path.join(root, "crates", "intent", "data", "train.jsonl")
    hand = read_hand(here)
    rows = []

    # Every row names its source line (template, hand-written line or negative) so that the
    # trainer can tell a new phrasing from a decorated copy of a seen one. The number is a
    # hash of the line, so that adding or moving lines leaves every other line's number, and
    # its cross-validation fold, as it was.
    used_sources = set()

    def new_source(intent, line):
        source = zlib.crc32(f"{intent}\t{line}".encode()) & 0x7FFFFFFF
        while source in used_sources or source == 0:
            source = (source + 1) & 0x7FFFFFFF
        used_sources.add(source)
        return source

    def emit(seen, intent, text, entities, source):
        if text in seen:
            return False
        seen.add(text)
        rows.append({"text": text, "intent": intent, "entities": entities, "source": source})
        return True

    labels = list(T.keys()) + [l for l in hand if l not in T and l != "oos"]
    for intent in labels:
        sources = []
        for item in T.get(intent, "").replace("\n", "").split(";"):
            if item.strip():
                text, kind = item.rsplit("|", 1)
                sources.append((text.strip(), kind.strip(), {}, new_source(intent, text.strip())))
        for text, annotations in hand.get(intent, []):
            sources.append((text, kind_of(text), annotations, new_source(intent, text)))
        seen = set()
        for text, kind, annotations, source in sources:
            filled, entities = fill(text, rng)
            entities.update(annotations)
            emit(seen, intent, filled, implied(intent, filled, entities), source)
        attempts = 0
        while len(seen) < PER_INTENT and attempts < PER_INTENT * 20:
            attempts += 1
            text, kind, annotations, source = rng.choice(sources)
            filled, entities = fill(text, rng)
            entities.update(annotations)
            decorated = decorate(filled, kind, rng, entities)
            emit(seen, intent, decorated, implied(intent, decorated, entities), source)

    oos = [t.strip() for t in OOS.replace("\n", "").split(";") if t.strip()]
    oos += [text for text, _ in hand.get("oos", [])]
    seen = set()
    for text in oos:
        source = new_source("oos", text)
        emit(seen, "oos", text, {}, source)
        for _ in range(OOS_VARIANTS):
            emit(seen, "oos", decorate(text, kind_of(text), rng), {}, source)

    for text in compositional(rng, COMPOSITIONAL_OOS):
        source = new_source("oos", text)
        emit(seen, "oos", text, {}, source)
        emit(seen, "oos", decorate(text, kind_of(text), rng), {}, source)

    with open(out_path, "w") as f:
        for row in rows:
            if not row["entities"]:
                del row["entities"]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {os.path.normpath(out_path)}")


if __name__ == "__main__":
    main()
