package sched

import (
	"fmt"
	"strings"
)

// FormatSigset renders a 64-signal sigset_t word like /proc/PID/status
// (fs/proc/array.c render_sigset_t): 16 hex digits, highest signals first.
// Bit n-1 is signal n.
func FormatSigset(set uint64) string { return fmt.Sprintf("%016x", set) }

// signalNames are the x86_64/arm64 signal names by number
// (arch/x86/include/uapi/asm/signal.h; 1..31, 32+ are real-time).
var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
	18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// SignalName returns "SIGKILL" for 9, "SIGRT3" for 35, "SIG70" past the end.
func SignalName(n int) string {
	if n > 0 && n < len(signalNames) && signalNames[n] != "" {
		return signalNames[n]
	}
	if n >= 32 && n <= 64 {
		return fmt.Sprintf("SIGRT%d", n-32)
	}
	return fmt.Sprintf("SIG%d", n)
}

// SigsetNames lists the signals in set: "SIGKILL,SIGTERM", "" when empty.
func SigsetNames(set uint64) string {
	var out []string
	for n := 1; n <= 64; n++ {
		if set&(1<<(n-1)) != 0 {
			out = append(out, SignalName(n))
		}
	}
	return strings.Join(out, ",")
}
