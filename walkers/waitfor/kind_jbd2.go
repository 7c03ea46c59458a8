package waitfor

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitJournal is TaskWait.Kind of a wait on a jbd2 journal (ext4's,
// ocfs2's): for a commit, for a locked transaction, or — the journal
// thread — for the handles of the transaction it commits.
const WaitJournal = "journal"

// journalQueue is one of journal_t's wait queues (include/linux/jbd2.h)
// and what a task sleeping on it waits for.
type journalQueue struct {
	member string // the wait_queue_head member of journal_t
	what   string // what the waiter waits for
	// commitThread: the journal's thread (j_task) must act; otherwise the
	// holders are the tasks with a handle open on the transaction being
	// committed.
	commitThread bool
}

// journalQueues are the journal waits a task blocks in:
//   - fs/jbd2/journal.c jbd2_log_wait_commit: wait_event(j_wait_done_commit)
//     until the commit of a tid is done (fsync, sync, ext4_sync_fs …);
//   - fs/jbd2/transaction.c wait_transaction_locked: a new handle waits on
//     j_wait_transaction_locked while the running transaction is locked
//     for commit;
//   - jbd2_journal_wait_updates (fs/jbd2/transaction.c, 5.17+; inline in
//     jbd2_journal_commit_transaction and jbd2_journal_lock_updates before):
//     the committing thread waits on j_wait_updates until every handle of
//     the transaction has stopped (t_updates == 0).
var journalQueues = []journalQueue{
	{member: "j_wait_done_commit", what: "the commit of", commitThread: true},
	{member: "j_wait_transaction_locked", what: "the locked transaction to be committed on", commitThread: true},
	{member: "j_wait_updates", what: "the open handles of the committing transaction of"},
}

var journalFrames = waitkind.NewFrames("jbd2_log_wait_commit", "wait_transaction_locked", "jbd2_journal_wait_updates",
	"jbd2_journal_lock_updates", "jbd2_journal_commit_transaction", "start_this_handle", "jbd2__journal_start",
	"jbd2_journal_start", "jbd2_complete_transaction")

// JournalWait: a task on one of a jbd2 journal's wait queues. The
// journal's commit thread (journal_t.j_task, "jbd2/DEV") holds commits
// and locked transactions; tasks whose current handle
// (task_struct.journal_info, a handle_t) belongs to the committing
// transaction hold its updates.
var JournalWait = &waitkind.Kind{
	Name:   WaitJournal,
	Verb:   "waits for",
	Frames: journalFrames,
	Waiter: locking.WaitEntryShape(),
	Decode: decodeJournalWait,
}

func decodeJournalWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	p := c.Prog()
	for _, q := range journalQueues {
		j, ok := journalOf(c, f.Object, q.member)
		if !ok {
			continue
		}
		name := j.name()
		w := TaskWait{Task: c.Blocked(t), Kind: WaitJournal, Certain: true,
			How: "wait_queue_entry on the task's stack, linked into journal_t." + q.member + " (fs/jbd2)"}
		w.Object = WaitObject{Type: "journal_t", Addr: j.addr, Container: j.addr, Where: name,
			What: fmt.Sprintf("%s journal %s (%s)", q.what, name, j.state())}
		if q.commitThread {
			if j.task != 0 {
				w.Holders = append(w.Holders, Holder{Task: c.Ref(j.task), Certain: true,
					How: "journal_t.j_task: the journal's commit thread"})
			} else {
				w.Note = "the journal has no commit thread (j_task is NULL): it is being destroyed"
			}
			return w, true
		}
		for _, h := range journalHandleHolders(c, p, j) {
			if h != t.Addr {
				w.Holders = append(w.Holders, Holder{Task: c.Ref(h), Certain: true,
					How: "task_struct.journal_info is a handle of the committing transaction (handle_t.h_transaction)"})
			}
		}
		if len(w.Holders) == 0 {
			w.Note = "no task's journal_info is a handle of the transaction: a handle was leaked, or held by a task not listed"
		}
		return w, true
	}
	return TaskWait{}, false
}

// journal is what a wait report needs of a journal_t.
type journal struct {
	addr, task           uint64
	devname              string
	commitSeq, commitReq uint64
	running, committing  uint64
}

func (j *journal) name() string {
	if j.devname != "" {
		return j.devname
	}
	return fmt.Sprintf("%#x", j.addr)
}

func (j *journal) state() string {
	s := fmt.Sprintf("committed up to tid %d, commit requested for %d", j.commitSeq, j.commitReq)
	if j.committing != 0 {
		s += ", a transaction is being committed"
	}
	return s
}

type journalKey struct {
	head   uint64
	member string
}

// journalOf returns the journal_t whose member is the wait queue head at
// head, when one checks out: its commit thread is a task whose name
// starts with "jbd2/" (fs/jbd2/journal.c jbd2_journal_start_thread), or
// it has none and its j_devname is set.
func journalOf(c waitkind.Context, head uint64, member string) (*journal, bool) {
	j := c.Memo(journalKey{head, member}, func() any {
		p := c.Prog()
		o, err := p.ContainerOf(head, "journal_t", member)
		if err != nil {
			return (*journal)(nil)
		}
		j := &journal{addr: o.Addr()}
		j.task, _ = o.MemberUint("j_task")
		j.devname, _ = o.MemberString("j_devname")
		if j.task != 0 {
			tk := c.TaskAt(j.task)
			if tk == nil || !strings.HasPrefix(tk.Comm, "jbd2/") {
				return (*journal)(nil)
			}
		} else if j.devname == "" {
			return (*journal)(nil)
		}
		j.commitSeq, _ = o.MemberUint("j_commit_sequence")
		j.commitReq, _ = o.MemberUint("j_commit_request")
		j.running, _ = o.MemberUint("j_running_transaction")
		j.committing, _ = o.MemberUint("j_committing_transaction")
		return j
	}).(*journal)
	return j, j != nil
}

// journalHandleHolders returns the tasks whose current jbd2 handle
// (task_struct.journal_info, include/linux/jbd2.h handle_t) belongs to
// the journal's committing or running transaction.
func journalHandleHolders(c waitkind.Context, p *symbols.Program, j *journal) []uint64 {
	return c.Memo(journalKey{j.addr, "handles"}, func() any {
		var out []uint64
		txOff, err := p.OffsetOf("handle_t", "h_transaction")
		if err != nil {
			return out
		}
		for _, tk := range c.Tasks() {
			if !tk.Obj.Type().HasMember("journal_info") {
				return out
			}
			h, err := tk.Obj.MemberUint("journal_info")
			if err != nil || h == 0 {
				continue
			}
			tx, err := p.ReadU64(h + txOff)
			if err == nil && tx != 0 && (tx == j.committing || tx == j.running) {
				out = append(out, tk.Addr)
			}
		}
		return out
	}).([]uint64)
}
