package locking

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// Superblock freeze levels (include/linux/fs.h enum, 5.10 through 7.1):
// sb->s_writers.rw_sem[level-1] is the percpu rw-semaphore of a level, and
// frozen == SB_FREEZE_COMPLETE once freeze_super (fs/super.c) is done.
const (
	sbFreezeComplete = 4
	sbFreezeLevels   = 3
)

var sbFreezeLevelNames = [sbFreezeLevels]string{"writes (SB_FREEZE_WRITE: sb_start_write)",
	"page faults (SB_FREEZE_PAGEFAULT: sb_start_pagefault)", "internal writes (SB_FREEZE_FS: sb_start_intwrite)"}

// WaitPercpuRwsem is TaskWait.Kind of a wait on a percpu rw-semaphore.
const WaitPercpuRwsem = "percpu-rwsem"

// Root kinds of chains that end at a percpu rw-semaphore of a superblock.
const (
	RootFrozenFS   = "filesystem-frozen"
	RootFreezingFS = "filesystem-freezing"
)

// PercpuRwsemWait is the wait kind of a task queued on a percpu
// rw-semaphore (kernel/locking/percpu-rwsem.c percpu_rwsem_wait): a
// wait_queue_entry on its stack with percpu_rwsem_wake_function, on
// sem->waiters. Its readers are per-CPU counts and are not recorded. The
// semaphores that matter most are a superblock's s_writers.rw_sem[]: a
// frozen filesystem (fsfreeze, FIFREEZE, a snapshot) keeps them
// write-locked with no owner until it is thawed, and every writer waits.
var PercpuRwsemWait = &waitkind.Kind{
	Name:     WaitPercpuRwsem,
	Verb:     "waits for",
	Frames:   waitkind.NewFrames("percpu_rwsem_wait", "__percpu_down_read", "percpu_down_write"),
	Waiter:   &waitQueueEntry,
	WakeFunc: "percpu_rwsem_wake_function",
	Decode:   decodePercpuRwsemWait,
	Classify: classifyPercpuRwsem,
	Remedies: percpuRwsemRemedies,
}

// freezerFrames mark the task freezing a filesystem (fs/super.c).
var freezerFrames = waitkind.NewFrames("freeze_super", "sb_wait_write")

func decodePercpuRwsemWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	p := c.Prog()
	off, err := p.OffsetOf("struct percpu_rw_semaphore", "waiters")
	if err != nil {
		return waitkind.TaskWait{}, false
	}
	sem := f.Object - off
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitPercpuRwsem, Certain: true,
		How: "wait_queue_entry (percpu_rwsem_wake_function) on the task's stack, linked into the semaphore's waiters"}
	w.Object = waitkind.WaitObject{Type: "percpu_rw_semaphore", Addr: sem}
	if sb, level, ok := superBlockOfWriters(p, sem); ok {
		w.Object.Container = sb
		fz := superBlockFreeze(p, sb)
		w.Object.What = fmt.Sprintf("%s of filesystem %s", sbFreezeLevelNames[level], fz.name)
		w.Object.Where = fz.mount
		switch {
		case fz.frozen >= sbFreezeComplete:
			w.Object.State = "frozen"
			w.Note = "the filesystem is frozen" + fz.by + ": the freeze holds this lock with no owner until it is thawed"
		case fz.frozen > 0:
			w.Object.State = "freezing"
			w.Note = fmt.Sprintf("a freeze of the filesystem is in progress (s_writers.frozen = %d)", fz.frozen)
			for _, fz := range freezers(c) {
				if fz != t.Addr {
					w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(fz), Certain: true,
						How: "freezing the filesystem (freeze_super): it holds the write side while it waits for the writers in progress"})
				}
			}
		default:
			w.Note = "the filesystem is not frozen: the semaphore is write-locked by a writer that is not recorded"
		}
		return w, true
	}
	w.Object.What = describeLock(c, sem, "percpu_rw_semaphore")
	if o, err := p.Object("struct percpu_rw_semaphore", sem); err == nil {
		if wt, err := o.MemberUint("writer.task"); err == nil && wt != 0 && wt != t.Addr {
			w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(wt), Certain: true,
				How: "percpu_rw_semaphore.writer (the writer taking it, waiting for readers to drain)"})
		}
	}
	if len(w.Holders) == 0 {
		w.Note = "its readers are per-CPU counts: the kernel does not record who holds it"
	}
	return w, true
}

type freezersKey struct{}

// freezers are the tasks in freeze_super, in task order: found once per
// analysis, not once per writer waiting for a freeze (each look unwinds
// every task's frames).
func freezers(c waitkind.Context) []uint64 {
	return c.Memo(freezersKey{}, func() any {
		var out []uint64
		for _, tk := range c.Tasks() {
			tk := tk
			if c.HasFrame(&tk, freezerFrames) {
				out = append(out, tk.Addr)
			}
		}
		return out
	}).([]uint64)
}

// superBlockOfWriters finds the superblock whose s_writers.rw_sem[level]
// is sem (checked: the superblock's root dentry points back at it).
func superBlockOfWriters(p *symbols.Program, sem uint64) (uint64, int, bool) {
	base, err := p.OffsetOf("struct super_block", "s_writers.rw_sem")
	if err != nil {
		return 0, 0, false
	}
	st, err := p.Type("struct percpu_rw_semaphore")
	if err != nil || st.Resolve() == nil {
		return 0, 0, false
	}
	size := st.Resolve().Size
	for level := 0; level < sbFreezeLevels; level++ {
		sb := sem - base - uint64(level)*size
		o, err := p.Object("struct super_block", sb)
		if err != nil {
			continue
		}
		if dsb, err := o.MemberUint("s_root->d_sb"); err == nil && dsb == sb {
			return sb, level, true
		}
	}
	return 0, 0, false
}

// sbFreeze is what the superblock says of its freeze.
type sbFreeze struct {
	name   string // "/mnt/frz (ext2 on loop0)"
	mount  string // first mount point, "" if none
	frozen uint64 // s_writers.frozen
	by     string // " by user space (FIFREEZE)" when the kernel records it
}

func superBlockFreeze(p *symbols.Program, sb uint64) sbFreeze {
	var z sbFreeze
	o, err := p.Object("struct super_block", sb)
	if err != nil {
		z.name = fmt.Sprintf("superblock %#x", sb)
		return z
	}
	z.frozen, _ = o.MemberUint("s_writers.frozen")
	fs, id, _ := vfs.SuperBlockName(p.Value(symbols.PointerTo(o.Type()), sb))
	mps := vfs.SuperBlockMountPoints(p, sb)
	if len(mps) > 0 {
		z.mount = mps[0]
		z.name = fmt.Sprintf("%s (%s on %s)", strings.Join(mps, ", "), fs, id)
	} else {
		z.name = fmt.Sprintf("%s on %s (superblock %#x, not mounted in init's namespace)", fs, id, sb)
	}
	// 6.12+ count freezers by origin (fs/super.c freeze_super: FREEZE_HOLDER_USERSPACE / _KERNEL).
	if o.Type().HasMember("s_writers") {
		u, uerr := o.MemberUint("s_writers.freeze_ucount")
		k, kerr := o.MemberUint("s_writers.freeze_kcount")
		switch {
		case uerr == nil && u > 0 && kerr == nil && k > 0:
			z.by = " by user space (FIFREEZE) and by the kernel"
		case uerr == nil && u > 0:
			z.by = " by user space (FIFREEZE/fsfreeze)"
		case kerr == nil && k > 0:
			z.by = " by the kernel (a snapshot or suspend)"
		}
	}
	return z
}

// classifyPercpuRwsem: a chain ending at a superblock's writers lock is
// rooted in the freeze.
func classifyPercpuRwsem(w *waitkind.TaskWait, r *waitkind.Root) bool {
	if w.Object.Container == 0 || len(r.Holders) > 0 {
		return false
	}
	switch w.Object.State {
	case "frozen":
		r.Kind = RootFrozenFS
		what := w.Object.What
		if i := strings.Index(what, " of filesystem "); i >= 0 {
			what = what[i+len(" of filesystem "):]
		}
		r.Summary = fmt.Sprintf("filesystem %s is frozen%s; its writers wait until it is thawed", what, frozenBy(w.Note))
		return true
	case "freezing":
		r.Kind = RootFreezingFS
		r.Certain = false
		r.Summary = fmt.Sprintf("a freeze of %s is in progress and its freezer is not found", w.Object.What)
		return true
	}
	return false
}

func frozenBy(note string) string {
	if i := strings.Index(note, " by "); i >= 0 {
		if j := strings.Index(note[i:], ":"); j > 0 {
			return note[i : i+j]
		}
	}
	return ""
}

// percpuRwsemRemedies: thaw a frozen filesystem.
func percpuRwsemRemedies(r *waitkind.Root) []string {
	if r.Kind != RootFrozenFS || r.Object == nil {
		return nil
	}
	if r.Object.Where != "" {
		return []string{fmt.Sprintf("fsfreeze -u %s  # thaw the filesystem (FITHAW)", r.Object.Where)}
	}
	return []string{"fsfreeze -u MOUNTPOINT  # thaw it where it is mounted (not in init's mount namespace)"}
}
