package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WQ_FLAG_* bits that kept their values (include/linux/wait.h, 5.10 through
// 6.19): EXCLUSIVE and WOKEN. The others were renumbered between versions,
// so they are shown as a number.
const (
	wqFlagExclusive = 0x01
	wqFlagWoken     = 0x02
)

// Wake functions whose wait_queue_entry.private is the waiting task
// (kernel/sched/core.c default_wake_function, kernel/sched/wait.c
// autoremove_wake_function, woken_wake_function; present 5.10 through 7.1).
var taskWakeFuncs = map[string]bool{
	"default_wake_function":    true,
	"autoremove_wake_function": true,
	"woken_wake_function":      true,
	"var_wake_function":        true,
}

// WaitQueueInfo is a decoded wait_queue_head.
type WaitQueueInfo struct {
	Addr    uint64       `json:"addr"`
	Waiters []LockWaiter `json:"waiters"`
	Error   string       `json:"error,omitempty"`
}

// WaitQueue decodes the wait_queue_head at addr: each wait_queue_entry with
// its task and wake function by symbol. Page waiters (wake_page_function)
// carry their folio (or page, ≤ 5.x) and bit number.
func WaitQueue(p *symbols.Program, addr uint64) (*WaitQueueInfo, error) {
	h, err := p.Object("struct wait_queue_head", addr)
	if err != nil {
		return nil, err
	}
	head, err := h.Member("head")
	if err != nil {
		return nil, err
	}
	off, err := p.OffsetOf("struct wait_queue_entry", "entry")
	if err != nil {
		return nil, err
	}
	nodes, werr := kmem.ListHeadNodes(p, head.Addr(), "", kmem.MaxWaiters)
	info := &WaitQueueInfo{Addr: addr, Error: kmem.ErrString(werr)}
	for _, n := range nodes {
		info.Waiters = append(info.Waiters, WaitEntry(p, n-off))
	}
	return info, nil
}

// WaitEntry decodes one struct wait_queue_entry.
func WaitEntry(p *symbols.Program, addr uint64) LockWaiter {
	w := LockWaiter{Waiter: addr}
	e, err := p.Object("struct wait_queue_entry", addr)
	if err != nil {
		w.Error = err.Error()
		return w
	}
	flags, _ := e.MemberUint("flags")
	w.Flags = wqFlagNames(flags)
	priv, err1 := e.MemberUint("private")
	fn, err2 := e.MemberUint("func")
	if err1 != nil || err2 != nil {
		w.Error = fmt.Sprintf("wait_queue_entry %#x: %v %v", addr, err1, err2)
		return w
	}
	w.Func = funcName(p, fn)
	switch {
	case w.Func == wakePageFunction:
		decodePageWaiter(p, addr, &w)
		if priv != 0 {
			w.Task, _ = sched.TaskRefAt(p, priv)
		}
	case w.Func == "pollwake":
		// private is a struct poll_wqueues * (fs/select.c).
		if pw, err := p.Object("struct poll_wqueues", priv); err == nil {
			if t, err := pw.MemberUint("polling_task"); err == nil && t != 0 {
				w.Task, _ = sched.TaskRefAt(p, t)
			}
		}
	case taskWakeFuncs[w.Func]:
		if priv != 0 {
			var err error
			if w.Task, err = sched.TaskRefAt(p, priv); err != nil {
				w.Error = err.Error()
			}
		}
	default:
		if priv != 0 && plausibleTask(p, priv) {
			w.Task, _ = sched.TaskRefAt(p, priv)
		}
	}
	return w
}

// decodePageWaiter fills Folio/BitNr from the struct wait_page_queue that
// embeds the entry as member wait (mm/filemap.c; folio in 6.x, page in 5.x).
func decodePageWaiter(p *symbols.Program, entry uint64, w *LockWaiter) {
	q, err := p.ContainerOf(entry, "struct wait_page_queue", "wait")
	if err != nil {
		return
	}
	member := "folio"
	if !q.Type().HasMember(member) {
		member = "page"
	}
	if f, err := q.MemberUint(member); err == nil {
		w.Folio = f
	}
	if b, err := q.MemberUint("bit_nr"); err == nil {
		w.BitNr = int(b)
	}
}

func wqFlagNames(f uint64) []string {
	var out []string
	if f&wqFlagExclusive != 0 {
		out = append(out, "EXCLUSIVE")
	}
	if f&wqFlagWoken != 0 {
		out = append(out, "WOKEN")
	}
	if rest := f &^ (wqFlagExclusive | wqFlagWoken); rest != 0 {
		out = append(out, fmt.Sprintf("%#x", rest))
	}
	return out
}

// funcName returns the name of the symbol at exactly addr, or
// "name+0xoff", or the hex address.
func funcName(p *symbols.Program, addr uint64) string {
	if p.Syms != nil {
		if s, off, ok := p.Syms.LookupAddr(addr); ok && off == 0 {
			return s.Name
		}
	}
	return p.SymbolizeAddr(addr)
}

// plausibleTask checks that addr looks like a task_struct: its stack
// pointer is set, its pid is positive, and it points back to itself as
// the leader of its own thread group or has a group leader whose tgid
// matches.
func plausibleTask(p *symbols.Program, addr uint64) bool {
	t, err := p.Object("struct task_struct", addr)
	if err != nil {
		return false
	}
	pid, err := t.MemberUint("pid")
	if err != nil || int32(pid) <= 0 {
		return false
	}
	tgid, err := t.MemberUint("tgid")
	if err != nil || int32(tgid) <= 0 {
		return false
	}
	leader, err := t.MemberUint("group_leader")
	if err != nil || leader == 0 {
		return false
	}
	if leader == addr {
		return pid == tgid
	}
	lt, err := p.Object("struct task_struct", leader)
	if err != nil {
		return false
	}
	ltgid, err := lt.MemberUint("tgid")
	return err == nil && ltgid == tgid
}

// waitQueueEntry is the shape of a struct wait_queue_entry on a task's
// stack, queued on a wait_queue_head (include/linux/wait.h).
var waitQueueEntry = waitkind.Waiter{Type: "struct wait_queue_entry", List: "entry", Task: "private",
	Object: "struct wait_queue_head", Head: "head", OwnStack: true}

// WaitQueueWait is a wait_queue_entry on a task's stack that no more
// precise kind recognised (by its wake function or the task's frames):
// wait_event and friends. Nobody owns a wait queue.
var WaitQueueWait = &waitkind.Kind{
	Name:    WaitQueueEvent,
	Verb:    "sleeps on",
	Waiter:  &waitQueueEntry,
	NoOwner: true,
	Idle:    waitsForInput,
	Decode:  decodeWaitQueueWait,
}

// waitsForInput are the frames of a task that sleeps until input comes
// or time passes, by design: poll, select and epoll (fs/select.c,
// fs/eventpoll.c), reads of a pipe or a socket (fs/pipe.c pipe_read,
// net/core/sock.c sk_wait_data, net/unix/af_unix.c), accept
// (net/ipv4/inet_connection_sock.c inet_csk_accept), sleeps (kernel/time/
// hrtimer.c do_nanosleep), wait4 (kernel/exit.c do_wait) and pause/
// sigsuspend/sigtimedwait. A holder (a server) found sleeping there is
// alive and waiting for work, not blocked: the chain ends at it.
var waitsForInput = waitkind.NewFrames("ep_poll", "do_epoll_wait", "do_sys_poll", "do_select", "core_sys_select",
	"pipe_read", "sk_wait_data", "unix_stream_read_generic", "unix_dgram_recvmsg", "inet_csk_accept",
	"do_nanosleep", "hrtimer_nanosleep", "do_wait", "sys_pause", "__x64_sys_pause", "sigsuspend", "do_sigtimedwait")

func decodeWaitQueueWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	e := WaitEntry(c.Prog(), f.Waiter)
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitQueueEvent, How: "wait_queue_entry on the task's stack, linked into the queue", Certain: true}
	w.Object = waitkind.WaitObject{Type: "wait_queue_head", Addr: f.Object,
		What: describeLock(c, f.Object, "wait_queue_head") + " (wake function " + e.Func + ")"}
	w.Note = "nobody owns a wait queue: whoever should wake it is unknown"
	return w, true
}

// WaitEntryShape is the wait_queue_entry waiter shape, for wait kinds of
// other packages that sleep on a wait queue (file locks, FUSE requests).
func WaitEntryShape() *waitkind.Waiter {
	w := waitQueueEntry
	return &w
}
