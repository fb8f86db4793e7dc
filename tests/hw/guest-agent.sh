# agent-init.sh - sourced by /init (guest-init.sh) for case agent_in_guest,
# with CHIP (gpiochipN) and S (gpio-sim sysfs dir) set.
#  ttyS0: console; the agent logs there.
#  ttyS1: the "physical world" channel the host drives, one line each way:
#    "pull N up|down" -> OK      (gpio-sim pull of line N: an input changes)
#    "value N"        -> VALUE N v (what line N drives: an output)
#    "halt"           -> BYE rc  (SIGTERM to the agent, its exit status)
# Sets rc for /init.
insmod /mod/e1000.ko || step_fail "insmod e1000.ko"
ip link set lo up
ip link set eth0 up || step_fail "no eth0"
ip addr add 10.0.2.15/24 dev eth0 || step_fail "ip addr on eth0"
echo "HT_HW_STEP network up: eth0 $(cat /sys/class/net/eth0/operstate)"

/bin/device-agent --config /etc/agent.json </dev/null >/dev/ttyS0 2>&1 &
AP=$!
echo "HT_HW_STEP device-agent started (pid $AP)"

# Keep one fd open on the world tty: reopening it per command loses input.
exec 3<>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo READY >&3
rc=1
while read -r cmd n arg <&3; do
    case "$cmd" in
    pull)
        if echo "pull-$arg" >"$S/sim_gpio$n/pull"; then
            echo OK >&3
        else
            echo ERR >&3
        fi
        ;;
    value)
        echo "VALUE $n $(cat "$S/sim_gpio$n/value")" >&3
        ;;
    halt)
        kill -TERM $AP
        wait $AP
        rc=$?
        echo "HT_HW_STEP device-agent exited with $rc"
        echo "BYE $rc" >&3
        break
        ;;
    *)
        echo "ERR unknown '$cmd'" >&3
        ;;
    esac
done
exec 3>&-
