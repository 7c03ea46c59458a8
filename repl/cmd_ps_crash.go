package repl

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// ps's crash flags -s (KSTACKP), -Y (policy and priority), -a (command
// line and environment), -C (per-CPU blocks of -l/-m), -H (no header).

// psKStackP fills row.KStackP (-s): the kernel stack pointer saved at the
// task's last context switch, x86_64's thread.sp
// (arch/x86/include/asm/processor.h) or arm64's thread.cpu_context.sp
// (arch/arm64/include/asm/processor.h). A task running on a CPU has none
// that means anything: it is left out, as crash prints "--".
func psKStackP(row *PsRow, t sched.Task) {
	if t.OnCPU {
		return
	}
	var errs []string
	for _, m := range []string{"thread.sp", "thread.cpu_context.sp"} {
		v, err := t.Obj.MemberUint(m)
		if err == nil {
			h := Hex(v)
			row.KStackP = &h
			return
		}
		errs = append(errs, err.Error())
	}
	row.Errors = append(row.Errors, "kstackp: "+strings.Join(errs, "; "))
}

// pointer is the TASK or KSTACKP column of a row.
func (r *PsResult) pointer(t PsRow) string {
	if !r.kstackp {
		return fmt.Sprintf("%016x", uint64(t.Task))
	}
	if t.KStackP == nil {
		return fmt.Sprintf("%16s", "--")
	}
	return fmt.Sprintf("%016x", uint64(*t.KStackP))
}

// Bounds of ps -a: the strings of one task, and their count.
const (
	maxPsArgBytes = 128 << 10
	maxPsStrings  = 4096
)

// psFillCrashView fills -Y's policy and priority and -a's strings.
func psFillCrashView(c *Call, res *PsResult, sel []sched.Task) error {
	for i, t := range sel {
		if i%256 == 0 {
			if err := c.Ctx.Err(); err != nil {
				return err
			}
		}
		row := &res.Tasks[i]
		switch res.view {
		case "Y":
			if pol, err := t.Policy(); err != nil {
				row.Errors = append(row.Errors, "policy: "+err.Error())
			} else {
				row.Policy = sched.PolicyName(pol)
			}
			if v, err := t.Obj.MemberUint("prio"); err != nil {
				row.Errors = append(row.Errors, "prio: "+err.Error())
			} else {
				prio := int(int32(v))
				row.Prio = &prio
			}
		case "a":
			if t.Kthread() || t.Idle {
				continue
			}
			var err error
			if row.Args, err = psUserStrings(c, t, "arg_start", "arg_end"); err != nil {
				row.Errors = append(row.Errors, "args: "+err.Error())
			}
			if row.Env, err = psUserStrings(c, t, "env_start", "env_end"); err != nil {
				row.Errors = append(row.Errors, "env: "+err.Error())
			}
		}
	}
	return nil
}

// psUserStrings reads the NUL-separated strings between mm->START and
// mm->END of a user task (include/linux/mm_types.h; fs/proc/base.c
// get_mm_cmdline reads the same range).
func psUserStrings(c *Call, t sched.Task, start, end string) ([]string, error) {
	mm, err := t.Obj.MemberUint("mm")
	if err != nil {
		return nil, err
	}
	if mm == 0 {
		return nil, fmt.Errorf("no mm (the task is exiting or a kernel thread)")
	}
	m, err := c.Prog.Object("struct mm_struct", mm)
	if err != nil {
		return nil, fmt.Errorf("mm %#x: %w", mm, err)
	}
	lo, err1 := m.MemberUint(start)
	hi, err2 := m.MemberUint(end)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("mm %#x: %v %v", mm, err1, err2)
	}
	if hi <= lo {
		return nil, nil
	}
	n := hi - lo
	truncated := n > maxPsArgBytes
	if truncated {
		n = maxPsArgBytes
	}
	b, err := unwind.ReadUser(c.Prog, t.Obj, lo, int(n))
	if err != nil {
		return nil, fmt.Errorf("user memory %#x-%#x: %w", lo, hi, err)
	}
	b = bytes.TrimRight(b, "\x00")
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		if len(out) >= maxPsStrings {
			truncated = true
			break
		}
		out = append(out, string(s))
	}
	if truncated {
		return out, fmt.Errorf("%s..%s: %d bytes, the first %d shown", start, end, hi-lo, n)
	}
	return out, nil
}

// writeCrashView prints -Y's table or -a's strings.
func (r *PsResult) writeCrashView(b *strings.Builder) {
	switch r.view {
	case "Y":
		col := "        TASK        "
		if r.kstackp {
			col = "      KSTACKP       "
		}
		if !r.noHeader {
			fmt.Fprintf(b, "   PID    PPID  CPU%sPOLICY       PRIO  COMM\n", col)
		}
		for _, t := range r.Tasks {
			mark := " "
			if t.OnCPU {
				mark = ">"
			}
			prio := "-"
			if t.Prio != nil {
				prio = strconv.Itoa(*t.Prio)
			}
			pol := t.Policy
			if pol == "" {
				pol = "?"
			}
			fmt.Fprintf(b, "%s%6d  %6d  %3d  %s  %-12s %4s  %s\n", mark, t.TID, t.PPID, t.CPU, r.pointer(t), pol, prio, psCommName(t))
		}
	case "a":
		first := true
		for _, t := range r.Tasks {
			if t.Kthread || t.Idle {
				continue
			}
			if !first {
				b.WriteByte('\n')
			}
			first = false
			b.WriteString(psTaskLine(t) + "\n")
			writeStrings(b, "ARG: ", t.Args, " ")
			writeStrings(b, "ENV: ", t.Env, "\n     ")
		}
	}
}

// writeStrings prints ps -a's ARG or ENV line: the strings joined by sep,
// or "(none)".
func writeStrings(b *strings.Builder, label string, ss []string, sep string) {
	if len(ss) == 0 {
		b.WriteString(label + "(none)\n")
		return
	}
	b.WriteString(label + strings.Join(ss, sep) + "\n")
}

// psCPUBlocks parses -C CPUS, which only -l and -m take.
func psCPUBlocks(c *Call, view string) ([]int, error) {
	if !c.IsSet("C") {
		return nil, nil
	}
	if view != "l" && view != "m" {
		return nil, UsageErrorf("ps -C: only with -l or -m")
	}
	s := strings.TrimSpace(c.String("C"))
	if s == "a" || s == "all" {
		online, err := c.Prog.OnlineCPUs()
		if err != nil {
			return nil, fmt.Errorf("ps -C all: the kernel's online CPUs: %w", err)
		}
		return append([]int{}, online...), nil
	}
	return parseCPURanges(s)
}

// maxPsCPU bounds a CPU number given to -C (NR_CPUS is at most 8192 on
// x86_64).
const maxPsCPU = 8192

// parseCPURanges reads "1,3,5-7".
func parseCPURanges(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(f), "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= maxPsCPU {
			return nil, UsageErrorf("ps -C: %q is not a CPU or a range of CPUs", f)
		}
		for cpu := a; cpu <= b; cpu++ {
			if !seen[cpu] {
				seen[cpu] = true
				out = append(out, cpu)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// writeCPUBlocks prints -l or -m per CPU, as crash's -C: "CPU: N" and the
// CPU's tasks, most recently run first.
func (r *PsResult) writeCPUBlocks(b *strings.Builder) {
	for i, cpu := range r.perCPU {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(b, "CPU: %d\n", cpu)
		for _, t := range r.Tasks {
			if t.CPU != cpu {
				continue
			}
			if r.view == "l" && t.LastArrival != nil {
				fmt.Fprintf(b, "[%d] [%s]  %s\n", *t.LastArrival, t.CrashState, psTaskLine(t))
			} else {
				writeSinceRanLine(b, t)
			}
		}
	}
}

// writeSinceRanLine is one line of ps -m.
func writeSinceRanLine(b *strings.Builder, t PsRow) {
	fmt.Fprintf(b, "[%s] [%s]  PID: %-6d TASK: %016x  CPU: %-3d COMMAND: %q\n",
		formatSinceRan(t.SinceRanNs), t.CrashState, t.TID, uint64(t.Task), t.CPU, t.Comm)
}
