// Package testdata finds the real kernel dumps made by the generator in
// testdata/gen and describes how each was made. Tests call Require (or
// Dumps) to get, per kernel and guest, the dump files in every format and the
// guest kernel's own record of its state (package truth).
//
// Generate the dumps with `go run ./testdata/gen` (or testdata/gen.sh) from
// the repository root; see testdata/README.md.
package testdata

// This file is the one place that pins what the dumps are made of: the
// Debian kernel packages (exact versions, for reproducible dumps) and the
// guests booted on them.

// Package is a Debian package at an exact version.
type Package struct {
	Name    string
	Version string
}

// Kernel is a Debian kernel whose packages carry vmlinuz and the modules.
type Kernel struct {
	ID       string // short name used in paths and filters: "6.1", "5.10", "6.12", "sid"
	Suite    string // Debian suite it comes from
	Packages []Package
	// Debug is the -dbg package (vmlinux and modules with DWARF, the real
	// System.map), fetched for DWARF tests when set; its usr/lib/debug/boot
	// and the fuse module's debug file are kept (see DebugRoot).
	Debug *Package `json:",omitempty"`
}

// Kernels are the pinned kernels, the first is the one to try first. The
// generator fetches them with apt-get download; a version the mirror no longer
// has is reported by name, and can be overridden with the environment variable
// KWALK_KERNEL_<ID> (ID with '.' as '_', e.g. KWALK_KERNEL_6_1) set to a
// space-separated list of name=version.
var Kernels = []Kernel{
	{ID: "6.1", Suite: "bookworm", Packages: []Package{
		{"linux-image-6.1.0-50-cloud-amd64-unsigned", "6.1.176-1"},
	}, Debug: &Package{"linux-image-6.1.0-50-cloud-amd64-dbg", "6.1.176-1"}},
	{ID: "5.10", Suite: "bullseye", Packages: []Package{
		{"linux-image-5.10.0-32-cloud-amd64-unsigned", "5.10.223-1"},
	}},
	{ID: "6.12", Suite: "trixie", Packages: []Package{
		{"linux-image-6.12.107+deb13-cloud-amd64-unsigned", "6.12.107-1"},
	}},
	{ID: "sid", Suite: "sid", Packages: []Package{
		{"linux-binary-unsigned-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
		{"linux-modules-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
	}},
}

// Scenario names: what a guest stages before it is dumped (the argument of
// the guest program "hangfs scenario", testdata/hangfs/scenario.go).
const (
	// ScenarioSquare: /mnt/w never answers WRITE. dd writes /mnt/w/data (holds
	// the inode lock, waits for the answer); truncate of the file waits for
	// the inode lock; rm of it holds the directory lock and waits for the
	// file's; touch /mnt/w/newfile waits for the directory lock.
	// Roles: square.server, square.dd, square.truncate, square.rm, square.touch.
	ScenarioSquare = "square"
	// ScenarioReenter: /mnt/c's WRITE handler truncates the same file through
	// its own mount while the writer holds the inode lock: a cycle.
	// Roles: reenter.server, reenter.dd.
	ScenarioReenter = "reenter"
	// ScenarioNetflix: in a new pid namespace a FUSE server holds a file of
	// its own mount /mnt/n on fd 0 (below /dev/fuse); the namespace's init
	// exits, the server is killed and its last thread blocks in fuse_flush
	// during exit (PF_EXITING, SIGKILL pending) while the init waits in
	// zap_pid_ns_processes. Roles: netflix.unshare, netflix.init, netflix.server.
	ScenarioNetflix = "netflix"
	// ScenarioIdle: nothing staged; nothing is stuck.
	ScenarioIdle = "idle"
	// ScenarioThreads: one process with many parked threads (role threads.proc).
	ScenarioThreads = "threads"
)

// Guest kinds.
const (
	GuestHangs = "hangs" // square + reenter + netflix in one guest
	GuestIdle  = "idle"  // nothing stuck
	GuestScale = "scale" // ≥ 10,000 threads, nothing stuck
)

// Guest is one booted machine and what it stages. A dump is identified by
// (Kernel, Name).
type Guest struct {
	Name      string   // GuestHangs, GuestIdle, GuestScale
	Kernel    string   // Kernel.ID
	Scenarios []string // run in this order
	Threads   int      // for ScenarioThreads
	// PagingLevels is 4 or 5: 5 boots with -cpu max (LA57), 4 with la57 off
	// in the CPU model. The generator checks the guest agrees.
	PagingLevels int
	MemoryMB     int
	CPUs         int
}

var hangs = []string{ScenarioSquare, ScenarioReenter, ScenarioNetflix}

// Guests is the generated matrix. 5.10's cloud config has no
// CONFIG_X86_5LEVEL, so its guest is 4-level.
var Guests = []Guest{
	{Name: GuestHangs, Kernel: "6.1", Scenarios: hangs, PagingLevels: 4, MemoryMB: 256, CPUs: 2},
	{Name: GuestIdle, Kernel: "6.1", Scenarios: []string{ScenarioIdle}, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestScale, Kernel: "6.1", Scenarios: []string{ScenarioThreads}, Threads: 10000, PagingLevels: 4, MemoryMB: 1024, CPUs: 2},
	{Name: GuestHangs, Kernel: "5.10", Scenarios: hangs, PagingLevels: 4, MemoryMB: 256, CPUs: 2},
	{Name: GuestHangs, Kernel: "6.12", Scenarios: hangs, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestHangs, Kernel: "sid", Scenarios: hangs, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestIdle, Kernel: "sid", Scenarios: []string{ScenarioIdle}, PagingLevels: 4, MemoryMB: 256, CPUs: 2},
}

// KernelByID returns the pinned kernel with the given ID.
func KernelByID(id string) (Kernel, bool) {
	for _, k := range Kernels {
		if k.ID == id {
			return k, true
		}
	}
	return Kernel{}, false
}
