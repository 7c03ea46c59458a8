package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
)

func registerLocks(r *Registry) {
	addrCmd := func(name, summary, help string, run func(c *Call, addr uint64) (Result, error)) {
		r.Add(&Command{
			Name:     name,
			Summary:  summary,
			Usage:    name + " ADDR",
			Help:     help,
			Examples: []string{name + " 0xffff888004a1c3a0"},
			Run: func(c *Call) (Result, error) {
				if err := c.NeedArgs(1, 1); err != nil {
					return nil, err
				}
				addr, err := evalAddr(c.Prog, c.Args[0])
				if err != nil {
					return nil, err
				}
				return run(c, addr)
			},
		})
	}
	addrCmd("mutex", "decode a struct mutex: owner, flags, waiters",
		`Decodes the struct mutex at ADDR: the owner task (flag bits WAITERS,
HANDOFF, PICKUP decoded from the owner word) and the waiters in queue
order, each a struct mutex_waiter on the waiting task's stack.

JSON: {"addr", "owner": {"addr","pid","tgid","comm"}|null, "owner_raw",
"flags": [...], "waiters": [{"waiter","task":{...}}], "error"}.`,
		func(c *Call, a uint64) (Result, error) {
			m, err := locking.Mutex(c.Prog, a)
			if err != nil {
				return nil, err
			}
			return MutexResult{m}, nil
		})
	addrCmd("rwsem", "decode a struct rw_semaphore: owner or readers, waiters",
		`Decodes the struct rw_semaphore at ADDR: write-locked (owner = the
writer), read-locked (reader count from count; the owner field only
records the last reader, a hint), flags, and the waiters in order with
their type (read or write).

JSON: {"addr", "count", "state", "readers", "count_flags", "owner",
"owner_raw", "owner_flags", "last_reader", "waiters": [{"waiter","task",
"type"}], "error"}.`,
		func(c *Call, a uint64) (Result, error) {
			s, err := locking.Rwsem(c.Prog, a)
			if err != nil {
				return nil, err
			}
			return RwsemResult{s}, nil
		})
	addrCmd("sem", "decode a struct semaphore: count and waiters",
		`Decodes the struct semaphore at ADDR: count, last holder (6.18+ with
hung-task blocker tracking), waiters.

JSON: {"addr", "count", "last_holder", "waiters", "error"}.`,
		func(c *Call, a uint64) (Result, error) {
			s, err := locking.Semaphore(c.Prog, a)
			if err != nil {
				return nil, err
			}
			return waitersResult{Title: fmt.Sprintf("semaphore %#x: count %d", s.Addr, s.Count), Waiters: s.Waiters, Err: s.Error, Value: s}, nil
		})
	addrCmd("completion", "decode a struct completion: done count and waiters",
		`Decodes the struct completion at ADDR: done and the waiting tasks.

JSON: {"addr", "done", "waiters", "error"}.`,
		func(c *Call, a uint64) (Result, error) {
			s, err := locking.Completion(c.Prog, a)
			if err != nil {
				return nil, err
			}
			return waitersResult{Title: fmt.Sprintf("completion %#x: done %d", s.Addr, s.Done), Waiters: s.Waiters, Err: s.Error, Value: s}, nil
		})
	addrCmd("waitq", "list the entries of a wait queue head",
		`Lists each wait_queue_entry on the wait_queue_head at ADDR with its
task and wake function (by symbol); page waiters show their folio.

JSON: {"addr", "waiters": [{"waiter","task","func","flags","folio","bit_nr"}], "error"}.`,
		func(c *Call, a uint64) (Result, error) {
			s, err := locking.WaitQueue(c.Prog, a)
			if err != nil {
				return nil, err
			}
			return waitersResult{Title: fmt.Sprintf("wait queue %#x", s.Addr), Waiters: s.Waiters, Err: s.Error, Value: s}, nil
		})
	r.Add(&Command{
		Name:     "folios",
		Summary:  "tasks waiting on a locked page/folio, with file and offset",
		Usage:    "folios",
		Examples: []string{"folios", "folios --json"},
		Help: `Lists every waiter in the hashed folio wait table (folio_wait_table,
page_wait_table before 6.x): the folio, the bit waited for (PG_locked,
PG_writeback), the task, and the file (path or inode) and offset.

JSON: {"waits": [{"folio","bit","bit_nr","task","waiter","file":{"mapping",
"inode","ino","fs","dev","path","offset"},"error"}], "warnings", "error"
(the first warning, kept for older readers)}. Warnings go to stderr in
text mode.`,
		Run: func(c *Call) (Result, error) {
			ws, err := locking.FolioWaits(c.Prog)
			if ws == nil && err != nil {
				return nil, err
			}
			res := FolioResult{Waits: ws, Error: errText(err)}
			if err != nil {
				res.Warnings = []string{res.Error}
			}
			return res, nil
		},
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// MutexResult is the result of "mutex".
type MutexResult struct{ *locking.MutexInfo }

// WriteText implements Result.
func (m MutexResult) WriteText(w io.Writer) error {
	owner := "none (unlocked)"
	if m.Owner != nil {
		owner = taskText(*m.Owner)
	}
	fmt.Fprintf(w, "mutex %#x: owner %s", m.Addr, owner)
	if len(m.Flags) > 0 {
		fmt.Fprintf(w, " [%s]", strings.Join(m.Flags, "|"))
	}
	fmt.Fprintln(w)
	return writeWaiters(w, m.Waiters)
}

// ResultWarnings implements Warner: a waiter list that could not be read
// whole is said on stderr.
func (m MutexResult) ResultWarnings() []string { return nonEmpty(m.Error) }

// RwsemResult is the result of "rwsem".
type RwsemResult struct{ *locking.RwsemInfo }

// WriteText implements Result.
func (s RwsemResult) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "rw_semaphore %#x: %s (count %#x", s.Addr, s.State, s.Count)
	if len(s.CountFlags) > 0 {
		fmt.Fprintf(w, " %s", strings.Join(s.CountFlags, "|"))
	}
	fmt.Fprintf(w, ", owner %#x", s.OwnerRaw)
	if len(s.OwnerFlags) > 0 {
		fmt.Fprintf(w, " %s", strings.Join(s.OwnerFlags, "|"))
	}
	fmt.Fprintln(w, ")")
	if s.Owner != nil {
		fmt.Fprintf(w, "  writer: %s\n", taskText(*s.Owner))
	}
	if s.State == "read-locked" {
		fmt.Fprintf(w, "  readers: %d\n", s.Readers)
		if s.LastReader != nil {
			fmt.Fprintf(w, "  last reader (hint only): %s\n", taskText(*s.LastReader))
		}
	}
	return writeWaiters(w, s.Waiters)
}

// ResultWarnings implements Warner.
func (s RwsemResult) ResultWarnings() []string { return nonEmpty(s.Error) }

// waitersResult renders a lock or queue with a waiter list; its JSON is Value.
type waitersResult struct {
	Title   string
	Waiters []locking.LockWaiter
	Err     string
	Value   any
}

// WriteText implements Result.
func (r waitersResult) WriteText(w io.Writer) error {
	fmt.Fprintln(w, r.Title)
	return writeWaiters(w, r.Waiters)
}

// ResultWarnings implements Warner.
func (r waitersResult) ResultWarnings() []string { return nonEmpty(r.Err) }

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// MarshalJSON renders the underlying walker value.
func (r waitersResult) MarshalJSON() ([]byte, error) { return marshalValue(r.Value) }

func writeWaiters(w io.Writer, ws []locking.LockWaiter) error {
	if len(ws) == 0 {
		fmt.Fprintln(w, "  no waiters")
	}
	for i, x := range ws {
		fmt.Fprintf(w, "  %3d  waiter %#x  %s", i+1, x.Waiter, taskText(x.Task))
		if x.Type != "" {
			fmt.Fprintf(w, "  %s", x.Type)
		}
		if x.Func != "" {
			fmt.Fprintf(w, "  %s", x.Func)
		}
		if x.Folio != 0 {
			fmt.Fprintf(w, "  folio %#x bit %d", x.Folio, x.BitNr)
		}
		if x.Error != "" {
			fmt.Fprintf(w, "  (%s)", x.Error)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func taskText(t sched.TaskRef) string {
	if t.Addr == 0 {
		return "-"
	}
	return fmt.Sprintf("PID %d (%s) task %#x", t.PID, t.Comm, t.Addr)
}

// FolioResult is the result of "folios".
type FolioResult struct {
	Waits    []locking.FolioWait `json:"waits"`
	Warnings []string            `json:"warnings,omitempty"`
	Error    string              `json:"error,omitempty"` // Warnings[0], for older readers
}

// ResultWarnings implements Warner.
func (f FolioResult) ResultWarnings() []string { return f.Warnings }

// WriteText implements Result.
func (f FolioResult) WriteText(w io.Writer) error {
	if len(f.Waits) == 0 {
		fmt.Fprintln(w, "no task waits on a page/folio")
	}
	for _, x := range f.Waits {
		fmt.Fprintf(w, "folio %#x %s: %s", x.Folio, x.Bit, taskText(x.Task))
		if x.File != nil {
			where := x.File.Path
			if where == "" {
				where = fmt.Sprintf("inode %d on %s", x.File.Ino, x.File.Dev)
			}
			fmt.Fprintf(w, "  %s offset %d (%s)", where, x.File.Offset, x.File.Fs)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// addrKeys are the JSON keys of the lock, FUSE and deadlock results that
// hold kernel addresses: marshalValue turns their numbers into "0x..."
// strings (JSON numbers lose precision above 2^53).
var addrKeys = map[string]bool{
	"addr": true, "waiter": true, "folio": true, "owner_raw": true, "conn": true,
	"super_block": true, "mapping": true, "inode": true, "devices": true,
	"dev": true, "container": true, "disk_addr": true,
}

// marshalValue encodes v as JSON with addresses as hex strings.
func marshalValue(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	return json.Marshal(hexify(tree, false))
}

func hexify(v any, addr bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = hexify(e, addrKeys[k])
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = hexify(e, addr)
		}
		return x
	case json.Number:
		if addr {
			if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
				return fmt.Sprintf("%#x", u)
			}
		}
	}
	return v
}

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (m MutexResult) MarshalJSON() ([]byte, error) { return marshalValue(m.MutexInfo) }

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (s RwsemResult) MarshalJSON() ([]byte, error) { return marshalValue(s.RwsemInfo) }

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (f FolioResult) MarshalJSON() ([]byte, error) {
	type plain FolioResult
	return marshalValue(plain(f))
}
