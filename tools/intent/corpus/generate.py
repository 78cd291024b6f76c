#!/usr/bin/env python3
"""Generates crates/intent/data/train.jsonl, the project-written training corpus of the RayOS
intent engine, from the templates below. Deterministic: a fixed seed, fixed iteration order;
run it from anywhere:  python3 tools/intent/corpus/generate.py

Each intent has templates (imperative, question, fragment forms); placeholders are filled from
the slot fillers, which carry the entity annotation; then politeness prefixes and suffixes,
filler words and keyboard typos are added at fixed rates. Entity values are the ones the
tools' HostWorld resolves to (VMs linux/windows/hostile; disks vda 8 GiB = disk 1,
vdb 16 GiB = disk 2; boot entries rayos-a, rayos-b; current boot 12).
"""
import json
import os
import random

SEED = 20240611
PER_INTENT = 170
OOS_EXTRA = 1  # each own oos template is used once plus variations

VM = [("linux", "linux"), ("windows", "windows"), ("hostile", "hostile"), ("Linux", "linux"), ("Windows", "windows"),
      ("linux", "linux"), ("windows", "windows")]
DISK = [("vda", "vda"), ("vdb", "vdb"), ("disk 2", "vdb"), ("disk two", "vdb"), ("the second disk", "vdb"),
        ("the first disk", "vda"), ("disk 1", "vda"), ("the 8 GB disk", "vda"), ("the 16gb disk", "vdb"),
        ("the 16 GB drive", "vdb"), ("drive 2", "vdb"), ("/dev/vdb", "vdb"), ("/dev/vda", "vda"), ("sda", "sda"),
        ("nvme0n1", "nvme0n1"), ("the largest disk", "vdb"), ("the 2nd drive", "vdb"), ("disk number one", "vda"),
        ("the smaller disk", "vda"), ("vdc", "vdc")]
BOOT = [("the last boot", -1), ("the previous boot", -1), ("last boot", -1), ("boot 5", 5), ("boot number 3", 3),
        ("boot 12", 12), ("the boot before last", -2), ("two boots ago", -2), ("3 boots ago", -3),
        ("the prior boot", -1), ("the previous startup", -1), ("boot 7", 7), ("boot #9", 9), ("previous boot", -1),
        ("boot number four", 4), ("last startup", -1)]
LEVEL = [("errors", "error"), ("error", "error"), ("warnings", "warn"), ("warning", "warn"), ("info", "info"),
         ("debug", "debug"), ("error", "error"), ("warn", "warn")]
DUR = [("30 seconds", 30), ("2 min", 120), ("1h", 3600), ("10 minutes", 600), ("five minutes", 300),
       ("an hour", 3600), ("90s", 90), ("45 sec", 45), ("two hours", 7200), ("half an hour", 1800),
       ("a minute", 60), ("15 mins", 900), ("1 hour", 3600), ("3 days", 259200), ("one minute", 60),
       ("thirty seconds", 30), ("120 seconds", 120), ("5m", 300), ("20 secs", 20), ("sixty seconds", 60),
       ("2 hours", 7200), ("1 day", 86400), ("twenty minutes", 1200)]
WORD = ["timeout", "virtio", "panic", "page fault", "out of memory", "net0", "nvme", "pci", "apic", "ext4",
        "checksum", "blk", "oom", "gpt", "svm", "denied", "reset", "usb", "firmware", "acpi"]
COUNT = [("the last 20 lines", 20), ("50 lines", 50), ("the last 100 entries", 100), ("ten lines", 10),
         ("the last 5 messages", 5), ("200 lines", 200), ("the latest 30 entries", 30)]
ENTRY = [("rayos-a", "rayos-a"), ("rayos-b", "rayos-b"), ("RayOS-B", "rayos-b"), ("the second entry", "rayos-b"),
         ("entry 1", "rayos-a"), ("rayos a", "rayos-a"), ("the first option", "rayos-a"), ("rayos b", "rayos-b"),
         ("entry 2", "rayos-b")]

# Templates: (text, kind) where kind is "imp" (imperative: takes polite prefixes),
# "q" (question) or "frag" (fragment, kept bare more often).
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
why did the last boot fail|q;what went wrong during the previous boot|q;show {level} messages|imp;
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

PREFIX_IMP = ["", "", "", "", "please ", "can you ", "could you ", "could you please ", "hey ", "hey rayos ",
              "rayos, ", "ok ", "i want to ", "i'd like to ", "i need to ", "i wanna ", "go ahead and ",
              "kindly ", "pls ", "would you ", "now ", "quickly ", "just "]
PREFIX_Q = ["", "", "", "", "hey ", "hey rayos, ", "rayos ", "quick question: ", "um ", "so ", "ok so ",
            "tell me, ", "i wonder "]
PREFIX_FRAG = ["", "", "", "", "", "", "rayos ", "hey ", "uh "]
SUFFIX = ["", "", "", "", "", "", " please", " now", " for me", " thanks", " right now", "?", ".", "!",
          " pls", " thx", " thank you", " asap", " if you can", " real quick", " again"]
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def typo(word, rng):
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(KEYBOARD) + word[i + 1:]


def fill(template, rng):
    entities = {}
    text = template
    if "{vm}" in text:
        surface, value = rng.choice(VM)
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
    if "{level}" in text:
        surface, value = rng.choice(LEVEL)
        text = text.replace("{level}", surface)
        entities["level"] = value
    if "{dur}" in text:
        surface, value = rng.choice(DUR)
        text = text.replace("{dur}", surface)
        entities["seconds"] = value
    if "{word}" in text:
        word = rng.choice(WORD)
        text = text.replace("{word}", word)
        entities["text"] = word
    if "{count}" in text:
        surface, value = rng.choice(COUNT)
        text = text.replace("{count}", surface)
        entities["count"] = value
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
    """Slots the engine reads from wording alone (kept in the annotation so that the corpus
    and the engine agree): failure words imply level=error in log queries; durations in
    log queries; "last hour"."""
    words = text.lower().replace("?", " ").replace(".", " ").split()
    if intent == "log.show":
        if "level" not in entities and any(w in ("fail", "failed", "wrong", "failure", "failures") for w in words):
            entities["level"] = "error"
        if "seconds" not in entities and "last hour" in text.lower():
            entities["seconds"] = 3600
        if "boot" not in entities and ("last boot" in text.lower() or "previous boot" in text.lower()):
            entities["boot"] = -1
    return entities


def decorate(text, kind, rng):
    prefix = rng.choice({"imp": PREFIX_IMP, "q": PREFIX_Q, "frag": PREFIX_FRAG}[kind])
    suffix = rng.choice(SUFFIX)
    if kind == "q" and rng.random() < 0.5:
        suffix = "?"
    out = prefix + text + suffix
    r = rng.random()
    if r < 0.15:
        words = out.split(" ")
        j = rng.randrange(len(words))
        words[j] = typo(words[j], rng)
        out = " ".join(words)
    elif r < 0.22:
        out = out.capitalize()
    elif r < 0.25:
        out = out.upper()
    return out


def main():
    rng = random.Random(SEED)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
    out_path = os.path.join(root, "crates", "intent", "data", "train.jsonl")
    rows = []
    for intent, spec in T.items():
        templates = []
        for item in spec.replace("\n", "").split(";"):
            text, kind = item.rsplit("|", 1)
            templates.append((text.strip(), kind.strip()))
        seen = set()
        # Every template once undecorated, then random decorated fills.
        for text, kind in templates:
            filled, entities = fill(text, rng)
            entities = implied(intent, filled, entities)
            if filled not in seen:
                seen.add(filled)
                rows.append({"text": filled, "intent": intent, "entities": entities})
        attempts = 0
        while len(seen) < PER_INTENT and attempts < PER_INTENT * 20:
            attempts += 1
            text, kind = rng.choice(templates)
            filled, entities = fill(text, rng)
            decorated = decorate(filled, kind, rng)
            entities = implied(intent, decorated, entities)
            if decorated in seen:
                continue
            seen.add(decorated)
            rows.append({"text": decorated, "intent": intent, "entities": entities})
    oos = [t.strip() for t in OOS.replace("\n", "").split(";") if t.strip()]
    seen = set()
    for text in oos:
        for variant in (text, decorate(text, "imp", rng), decorate(text, "q", rng)):
            if variant not in seen:
                seen.add(variant)
                rows.append({"text": variant, "intent": "oos", "entities": {}})
    with open(out_path, "w") as f:
        for row in rows:
            if not row["entities"]:
                del row["entities"]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {os.path.normpath(out_path)}")


if __name__ == "__main__":
    main()
