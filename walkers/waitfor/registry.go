package waitfor

import (
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// Kinds is the registry of wait kinds, in the order they are tried: kinds
// that detect their waits themselves first, then, for a waiter structure
// of a shared shape (a wait_queue_entry), the more precise kinds before
// the generic one. Adding a way of being stuck is one file with its Kind
// and one line here (see the package documentation).
func Kinds() []*waitkind.Kind {
	return []*waitkind.Kind{
		FuseRequestWait,
		PidNSExitWait,
		ThreadsExitWait,
		VforkWait,
		CoredumpWait,
		CoredumpExitWait,
		BlockIOWait,
		RPCWait,
		locking.RtMutexWait,
		locking.FutexWait,
		locking.MutexWait,
		locking.RwsemWait,
		locking.RwsemReadWait,
		locking.SemaphoreWait,
		KthreadStopWait,
		FlushWorkWait,
		FlushWorkqueueWait,
		KthreadFlushWait,
		RCUGracePeriodWait,
		RCUExpeditedWait,
		RCUExpeditedDriverWait,
		SRCUGracePeriodWait,
		locking.CompletionWait,
		locking.SwaitWait,
		locking.FolioWaitKind,
		locking.PercpuRwsemWait,
		locking.FileLockWait,
		JournalWait,
		WritebackWorkWait,
		QueueFreezeWait,
		FuseTypesFreeWait,
		locking.WaitQueueWait,
	}
}

// kindNamed returns the registry kind whose Name is name, or nil.
func kindNamed(name string) *waitkind.Kind {
	for _, k := range Kinds() {
		if k.Name == name {
			return k
		}
	}
	return nil
}
