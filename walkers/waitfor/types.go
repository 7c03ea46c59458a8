package waitfor

import "github.com/kwalk/kwalk/walkers/waitkind"

// The wait-for graph's values are defined with the wait-kind model, which
// every kind builds them with; these names keep them where the report is.
type (
	TaskWait    = waitkind.TaskWait
	BlockedTask = waitkind.BlockedTask
	WaitObject  = waitkind.WaitObject
	FuseReqRef  = waitkind.FuseReqRef
	Holder      = waitkind.Holder
	Root        = waitkind.Root
)
