package waitkind

import (
	"time"

	"github.com/kwalk/kwalk/walkers/sched"
)

// BlockedTask is a task of the wait-for graph.
type BlockedTask struct {
	sched.TaskRef
	State string `json:"state"`
	// NSPID is the task's id in its own pid namespace (= PID outside containers).
	NSPID   int  `json:"ns_pid"`
	Exiting bool `json:"exiting,omitempty"` // PF_EXITING
	// FatalSignal: SIGKILL pending (ignored by the kernel when Exiting).
	FatalSignal bool `json:"fatal_signal,omitempty"`
	// BlockedFor is how long since the task last ran (rq clock), when known.
	BlockedFor time.Duration `json:"blocked_for_ns,omitempty"`
	// Frames are the function names of the kernel stack, innermost first.
	Frames []string `json:"frames,omitempty"`
}

// WaitObject is what a task waits on.
type WaitObject struct {
	// Type is the kernel type: "rw_semaphore", "mutex", "fuse_req", ...
	Type string `json:"type"`
	Addr uint64 `json:"addr"`
	// What describes it: "i_rwsem of inode 12 /mnt/w/data (fuse.hangfs)".
	What string `json:"what"`
	// State is the object's condition in a word, when a kind knows one
	// that explains the wait ("frozen", "freezing", "suspended").
	State string `json:"state,omitempty"`
	// Where is the mount point or path the object is about, for remedies.
	Where string `json:"where,omitempty"`
	// Container is the object this one belongs to, when waits on several
	// of its parts share one root (the superblock whose
	// s_writers.rw_sem[] a writer waits on): chains are grouped by it.
	Container uint64 `json:"container,omitempty"`
	// Folio is set for waits on a folio bit.
	Folio *FolioRef `json:"folio,omitempty"`
	// Fuse is set for FUSE requests.
	Fuse *FuseReqRef `json:"fuse,omitempty"`
	// Block is set for waits on block I/O: the device and the I/O.
	Block *BlockRef `json:"block,omitempty"`
	// RPC is set for waits on a sunrpc request (NFS and its helpers).
	RPC *RPCRef `json:"rpc,omitempty"`
	// FuseCandidates are, for a FUSE request that could not be decoded,
	// the connections (/sys/fs/fuse/connections numbers) the task has
	// files open on: the request's connection is one of them.
	FuseCandidates []uint32 `json:"fuse_candidates,omitempty"`
}

// FuseReqRef summarises a FUSE request and its connection.
type FuseReqRef struct {
	Conn        uint64   `json:"conn"`
	ConnID      uint32   `json:"conn_id"`
	MountPoints []string `json:"mount_points,omitempty"`
	Unique      uint64   `json:"unique"`
	Op          string   `json:"op"`
	// OpFrom says where Op came from when the request itself was not
	// read: "frame fuse_flush" (the function that sent it).
	OpFrom    string   `json:"op_from,omitempty"`
	Queue     string   `json:"queue"`
	Flags     []string `json:"flags"`
	NodeID    uint64   `json:"nodeid"`
	Path      string   `json:"path,omitempty"`
	Connected bool     `json:"connected"`
	Remedy    string   `json:"remedy"`
	// Undecoded: the request itself could not be read (no FUSE types, or
	// it is on no queue kwalk walks);
	// only Conn, ConnID, MountPoints and Remedy are known, the other
	// fields are empty, not zero.
	Undecoded bool `json:"undecoded,omitempty"`
}

// Holder is a task that holds (or must act on) the object a task waits on.
type Holder struct {
	Task sched.TaskRef `json:"task"`
	// How the holder was established, e.g. "rw_semaphore.owner (writer)",
	// "FUSE server: holds /dev/fuse fd 6", "last reader hint in
	// rw_semaphore.owner".
	How string `json:"how"`
	// Certain is false for guesses (reader hints, stack matches).
	Certain bool `json:"certain"`
	// State is the holder's task state letter (R S D T t Z …), when known.
	State string `json:"state,omitempty"`
	// Frozen is set when the holder is frozen: "cgroup /sys/fs/cgroup/PATH"
	// (the cgroup v2 freezer) or "system" (suspend/hibernate).
	Frozen string `json:"frozen,omitempty"`
	// Tracer is the task tracing the holder (ptrace), when it is traced.
	Tracer *sched.TaskRef `json:"tracer,omitempty"`
	// Where is the holder's state and its innermost frames below the
	// scheduler ("S in holder_fn [kwalk_hang] ← kthread"), when known.
	Where string `json:"where,omitempty"`
}

// TaskWait is what one task waits for and who holds it.
type TaskWait struct {
	Task   BlockedTask `json:"task"`
	Kind   string      `json:"kind"`
	Object WaitObject  `json:"object"`
	// How the wait was found: "task on req->waitq", "stack waiter verified
	// on the lock's list", "frame zap_pid_ns_processes".
	How     string `json:"how"`
	Certain bool   `json:"certain"`
	// Position is the task's place in the waiter queue (1 = first), 0 if
	// not applicable; QueueLen the number of waiters.
	Position int      `json:"position,omitempty"`
	QueueLen int      `json:"queue_len,omitempty"`
	Holders  []Holder `json:"holders"`
	// ReaderOwned: the object is a read-locked rw_semaphore, whose holders
	// the kernel does not record (the holders are hints or guesses).
	ReaderOwned bool `json:"reader_owned,omitempty"`
	// Incomplete: finding this wait met memory the dump does not have
	// (a filtered or damaged dump): it is not certain, and Error says so.
	Incomplete bool `json:"incomplete,omitempty"`
	// Note adds what the holders alone do not say.
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
}

// Root is what a chain ultimately waits on.
type Root struct {
	Kind string `json:"kind"`
	// Summary is one line naming the root cause.
	Summary string `json:"summary"`
	// Task is the last blocked task of the chain (for cycles, nil).
	Task *sched.TaskRef `json:"task,omitempty"`
	// Object is what that task waits on, WaitKind how (TaskWait.Kind).
	Object   *WaitObject `json:"object,omitempty"`
	WaitKind string      `json:"wait_kind,omitempty"`
	// Holders are the tasks at the root that are not blocked in a way kwalk
	// recognises (FUSE servers idle in read, a lock owner running).
	Holders []Holder `json:"holders,omitempty"`
	// Certain is false when any edge of the chain is a guess.
	Certain bool `json:"certain"`
	// Incomplete: some wait of the chain rests on memory the dump does not
	// have (a filtered dump): the summary may be wrong, and says so.
	Incomplete bool `json:"incomplete,omitempty"`
}

// FolioRef is, for a wait on a folio bit, the folio and where it belongs:
// what a kind that performs I/O (a FUSE READ, a block request) needs to
// say it is the one holding the folio.
type FolioRef struct {
	Folio uint64 `json:"folio"`
	// Bit is the page flag waited for ("PG_locked", "PG_writeback").
	Bit string `json:"bit"`
	// Inode and Offset are the file's inode and the folio's byte offset in
	// it (0 for anonymous memory).
	Inode  uint64 `json:"inode,omitempty"`
	Offset uint64 `json:"offset,omitempty"`
}

// RPCRef summarises a sunrpc task a process waits for (net/sunrpc): the
// program and procedure, the server it was sent to and the mounts of the
// client.
type RPCRef struct {
	Task    uint64 `json:"task"` // struct rpc_task *
	Program string `json:"program,omitempty"`
	Version uint32 `json:"version,omitempty"`
	Proc    string `json:"proc,omitempty"`
	// Server is the server's name as mounted (xprt->servername), Addr its
	// address and port, Transport "tcp", "udp", "rdma"….
	Server    string `json:"server,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Transport string `json:"transport,omitempty"`
	// Connected is the transport's XPRT_CONNECTED bit.
	Connected bool `json:"connected"`
	// Soft: the task gives up after its timeouts (RPC_TASK_SOFT); a hard
	// mount's RPC retries for ever.
	Soft bool `json:"soft"`
	// MountPoints are the NFS mounts whose client this is.
	MountPoints []string `json:"mount_points,omitempty"`
	// Remote: the server is not a process of this machine (no local
	// socket is the other end of the connection).
	Remote bool `json:"remote,omitempty"`
	// Undecoded: sunrpc's types were not available; only the frames said
	// the task waits for an RPC.
	Undecoded bool `json:"undecoded,omitempty"`
}
