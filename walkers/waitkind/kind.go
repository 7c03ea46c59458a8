package waitkind

import (
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// Unknown is TaskWait.Kind of a task in uninterruptible sleep whose wait
// no kind recognised.
const Unknown = "unknown"

// A Kind is one way a task can be blocked: a kernel waiting primitive (a
// mutex, a file lock, a frozen superblock, a FUSE request …). It holds
// everything about it; package waitfor knows kinds only through this
// value (its registry), never by name.
//
// A waiting task is recognised, in this order, by:
//   - Detect (anything: a frame, an index built by Prepare, a task field);
//   - a hung-task blocker record naming it (BlockerTypes, BlockedOn);
//   - a waiter structure on the task's stack (Waiter), linked into the
//     object's list and confirmed by Frames (lock waiters) or WakeFunc
//     (wait-queue entries).
//
// Decode then names the object and finds its holders.
type Kind struct {
	// Name is TaskWait.Kind ("mutex", "rwsem-write", "file-lock", …).
	Name string
	// Verb describes the edge in reports: "waits for", "waits to read-lock".
	Verb string
	// Frames mark the wait on the task's stack (compiler suffixes
	// tolerated). A waiter structure of this kind is believed only when
	// one of them is on the stack (or the stack could not be unwound).
	Frames Frames
	// Interruptible: the wait may be in state S (TASK_INTERRUPTIBLE or
	// TASK_KILLABLE slowpaths, file locks) and is still reported: a task
	// in S is examined when one of Frames is near the top of its stack.
	Interruptible bool
	// Waiter is the waiter structure the kind leaves on the waiting task's
	// stack, if any.
	Waiter *Waiter
	// WakeFunc tells a wait-queue kind's entries from other wait-queue
	// entries (Waiter.Type "struct wait_queue_entry"): the symbol of
	// wait_queue_entry.func, e.g. "wake_page_function".
	WakeFunc string
	// BlockerTypes are the hung-task blocker types (low bits of
	// task_struct.blocker, include/linux/hung_task.h, 6.16+) that name a
	// lock of this kind.
	BlockerTypes []uint64
	// BlockedOn is the type task_struct.blocked_on points to when it names
	// a lock of this kind ("mutex", 6.18+).
	BlockedOn string

	// HolderOnly: Detect is asked only for tasks reached as holders of
	// other waits (a zombie leader is a normal sight, unless someone waits
	// for it).
	HolderOnly bool
	// Idle frames mark a task that sleeps by design (a FUSE server waiting
	// for requests): as a holder it is not blocked.
	Idle Frames
	// NoOwner: the object has no owner (completions, wait queues, folios):
	// a chain ending here waits for an event nobody is known to signal.
	NoOwner bool

	// Detect finds a wait of this kind by other means than a waiter
	// structure. It is asked first, in registry order.
	Detect func(c Context, t *sched.Task) (TaskWait, bool)
	// Decode names the object a waiter of this kind waits on and who holds
	// it. ok is false when the object does not check out (a stale waiter).
	Decode func(c Context, t *sched.Task, f Found) (TaskWait, bool)
	// Classify names the root cause of a chain whose last hop is a wait of
	// this kind, filling r's Kind, Summary and Certain; false leaves it to
	// the generic classification (holder not blocked, unknown holder, …).
	Classify func(w *TaskWait, r *Root) bool
	// Remedies returns what would unstick a chain whose root is a wait of
	// this kind (besides the generic advice).
	Remedies func(root *Root) []string
}

// Waiter is the shape of a waiter structure on a waiting task's stack and
// of the object whose list it is linked into.
type Waiter struct {
	Type string // the waiter's type: "struct mutex_waiter"
	List string // its list_head member: "list"
	Task string // its member that points at the waiting task: "task"
	// Object is the type holding the list of waiters ("struct mutex"),
	// Head its list_head member (≤ 7.0: "wait_list") and First its
	// pointer to the first waiter of a headless ring (7.1+: "first_waiter").
	Object, Head, First string
	// OwnStack: the object may live on the waiting task's own stack
	// (DECLARE_COMPLETION_ONSTACK; fs/locks.c __do_sys_flock's struct
	// file_lock, whose fl_wait the task sleeps on). Locks never do.
	OwnStack bool
}

// Found is a waiter structure found on a task's stack (or a lock named by
// a task field), with the object it waits on.
type Found struct {
	// Waiter is the waiter structure's address; 0 when the wait was found
	// from a task field.
	Waiter uint64
	// Object is the address of the Waiter.Object (or the lock a task
	// field names).
	Object uint64
	// How says how it was found, for TaskWait.How.
	How string
	// Damaged is set when the waiter's list did not link back: the object
	// was taken from the waiter's neighbour, and the answer is uncertain.
	Damaged string
}

// Context is what a kind sees of the analysis: the program, the tasks,
// their stacks, and helpers that make TaskWait values.
type Context interface {
	Prog() *symbols.Program
	// Tasks is every task of the dump; TaskAt finds one by address.
	Tasks() []sched.Task
	TaskAt(addr uint64) *sched.Task
	// Ref names the task at addr (read from memory if it is not listed).
	Ref(addr uint64) sched.TaskRef
	// Blocked describes t as a waiter.
	Blocked(t *sched.Task) BlockedTask
	// Trace unwinds t once (nil if it cannot be unwound); HasFrame tells
	// whether one of f is on t's stack.
	Trace(t *sched.Task) *unwind.Trace
	HasFrame(t *sched.Task, f Frames) bool
	// Stack reads t's kernel stack once: the bytes and their base address.
	Stack(t *sched.Task) ([]byte, uint64)
	// StackReferences returns blocked tasks other than skip whose stacks
	// hold the word v (bounded): candidates for holding an object whose
	// holders the kernel does not record.
	StackReferences(v uint64, skip map[uint64]bool) []uint64
	// Warn records a problem that did not stop the analysis.
	Warn(msg string)
	// Memo returns fn's value for key, computing it once per analysis: a
	// kind decodes one lock once however many tasks wait on it (10,000
	// waiters of one mutex must not walk its wait list 10,000 times).
	Memo(key any, fn func() any) any
}
