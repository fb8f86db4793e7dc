#!/bin/sh
# /init of the tests/hw guest (busybox). Loads gpio-sim, creates one
# simulated chip through configfs and runs the case named by the kernel
# command line (ht_case=..., which the kernel hands to init as an
# environment variable). Reports on ttyS0 with marker lines the host
# parses: "HT_HW_FAIL why" for a broken set-up step, "HT_HW_DONE rc=N" last.
export PATH=/bin:/sbin:/usr/bin
ht_case=${ht_case:-}

step_fail() {
    echo "HT_HW_FAIL $*"
    echo "HT_HW_DONE rc=1"
    poweroff -f
    sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "HT_HW_STEP kernel $(uname -r)" \
    "up at $(cut -d' ' -f1 /proc/uptime)s case=$ht_case"

insmod /mod/configfs.ko || step_fail "insmod configfs.ko"
mount -t configfs configfs /sys/kernel/config || step_fail "mount configfs"
insmod /mod/irq_sim.ko || step_fail "insmod irq_sim.ko"
insmod /mod/gpio-sim.ko || step_fail "insmod gpio-sim.ko"

# One bank of 8 lines; line 5 named so the agent case can find it by name.
C=/sys/kernel/config/gpio-sim/ht
mkdir $C $C/bank0 || step_fail "gpio-sim configfs mkdir"
echo 8 >$C/bank0/num_lines
echo ht-hw-bank0 >$C/bank0/label
mkdir $C/bank0/line5 && echo relay_out >$C/bank0/line5/name
echo 1 >$C/live || step_fail "gpio-sim: echo 1 > live"
CHIP=$(cat $C/bank0/chip_name)
DEV=$(cat $C/dev_name)
S=/sys/devices/platform/$DEV/$CHIP
[ -c "/dev/$CHIP" ] || step_fail "no /dev/$CHIP after gpio-sim went live"
[ -d "$S/sim_gpio0" ] || step_fail "no gpio-sim sysfs at $S"
echo "HT_HW_STEP gpio-sim live: /dev/$CHIP, sysfs $S"

rc=1
case "$ht_case" in
gpiod_uapi | gpiod2_uapi)
    /bin/gpio_hw_test "$CHIP" "$S"
    rc=$?
    ;;
agent_in_guest)
    [ -f /agent-init.sh ] || step_fail "no /agent-init.sh in the initramfs"
    # shellcheck disable=SC1091 # packed in by tests/hw/run
    . /agent-init.sh
    ;;
*)
    step_fail "unknown case '$ht_case'"
    ;;
esac
echo "HT_HW_DONE rc=$rc"
poweroff -f
