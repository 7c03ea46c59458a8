package testdata

// WaitEdge is one "Waiter waits for Holder" fact that a scenario stages, by
// role (truth.Record.Roles gives the pids). Tests of a wait-for graph check
// that they find these edges; the record shows each waiter blocked.
type WaitEdge struct {
	Waiter string // role of the waiting task (for a server: one of its threads)
	Holder string // role of the task it waits for
	Via    string // what it waits on
}

// Edges returns the wait-for edges scenario sc stages (nil for scenarios
// without hangs). The resource names use the scenario's paths.
func Edges(sc string) []WaitEdge {
	switch sc {
	case ScenarioSquare:
		// fuse_file_write_iter (fs/fuse/file.c) holds the file's i_rwsem
		// across the WRITE request; do_truncate (fs/open.c) and vfs_unlink
		// (fs/namei.c) take the file's; do_unlinkat holds the directory's,
		// which the lookup of /mnt/w/newfile needs (fs/namei.c lookup_slow).
		return []WaitEdge{
			{"square.dd", "square.server", "answer to FUSE WRITE on /mnt/w/data"},
			{"square.truncate", "square.dd", "inode lock of /mnt/w/data"},
			{"square.rm", "square.dd", "inode lock of /mnt/w/data"},
			{"square.touch", "square.rm", "inode lock of directory /mnt/w"},
		}
	case ScenarioReenter:
		return []WaitEdge{
			{"reenter.dd", "reenter.server", "answer to FUSE WRITE on /mnt/c/data"},
			{"reenter.server", "reenter.dd", "inode lock of /mnt/c/data"},
		}
	case ScenarioNetflix:
		// kernel/pid_namespace.c zap_pid_ns_processes waits for every task
		// of the namespace; the server's last thread waits in fuse_flush
		// for a FLUSH only the server itself could answer.
		return []WaitEdge{
			{"netflix.init", "netflix.server", "exit of the pid namespace's tasks"},
			{"netflix.server", "netflix.server", "answer to FUSE FLUSH on /mnt/n/held"},
		}
	}
	return nil
}

// Edges returns the wait-for edges of every scenario the dump's guest staged.
func (d *Dump) Edges() []WaitEdge {
	var out []WaitEdge
	for _, sc := range d.Guest.Scenarios {
		out = append(out, Edges(sc)...)
	}
	return out
}
