package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Two FUSE waits with a known waker, the connection's server, staged in
// the stuck3 guest: new requests held until the server answers INIT, and
// an fsync waiting for the WRITE that carries a dirty page's write-back.

const (
	noInitMount = "/mnt/ni"
	fuseWBMount = "/mnt/b"
)

// fuseinit mounts a FUSE file system whose server ("hangfs noinit")
// never reads /dev/fuse: the mount returns (fs/fuse/inode.c sends INIT
// in the background) but every request waits until INIT is answered
// (fs/fuse/dev.c fuse_get_req: fuse_block_alloc, fc->blocked_waitq).
// noinit.reader ("cat /mnt/ni/data") waits there in D for its LOOKUP.
func (s *stager) fuseinit() error {
	srv, err := start("hangfs", "noinit", noInitMount)
	if err != nil {
		return err
	}
	if err := waitFile(readyPath(noInitMount), stageWait); err != nil {
		return err
	}
	s.addRole("noinit.server", srv)
	pid, err := start("cat", noInitMount+"/data")
	if err != nil {
		return err
	}
	s.addRole("noinit.reader", pid)
	if err := poll(fmt.Sprintf("noinit.reader (pid %d) in D waiting for the connection's INIT", pid), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && st.state == "D" && stackHasAny(pid, pid, "fuse_get_req", "fuse_simple_request", "__fuse_simple_request", "fuse_lookup_name", "fuse_lookup")
	}); err != nil {
		return fmt.Errorf("noinit.reader: %w", withWhere(err, pid))
	}
	s.meta = append(s.meta, "noinit.mount="+noInitMount)
	return nil
}

// noInit opens /dev/fuse, mounts it on mnt and never reads a request.
func noInit(mnt string) error {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("noinit: %w", err)
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd)
	if err := unix.Mount("hangfs-noinit", mnt, "fuse.hangfs", 0, opts); err != nil {
		return fmt.Errorf("noinit: mount %s: %w", mnt, err)
	}
	if err := os.WriteFile(readyPath(mnt), nil, 0o644); err != nil {
		return err
	}
	for {
		// Hold the connection's only /dev/fuse file, never read it (a
		// bare select{} would be a deadlock to the Go runtime).
		unix.Pause()
	}
}

// fusewb: fusewb.fsync ("hangfs mmapsync /mnt/b/data", a server whose
// WRITE is never answered) dirties the file's page through a shared
// mapping and calls fsync, which holds the inode lock (fs/fuse/file.c
// fuse_fsync) while the page's write-back WRITE waits for the server:
// before 6.14 fuse_sync_writes waits on fuse_inode.page_waitq (a
// temporary page ended the folio's write-back at once), since then the
// folio stays under write-back and fsync waits for PG_writeback.
// fusewb.truncate ("hangfs fileop truncate=0", which opened the file
// first) then ftruncates it and waits in D for the inode lock.
func (s *stager) fusewb() error {
	srv, err := s.server(fuseWBMount, modeHangWrite)
	if err != nil {
		return err
	}
	s.addRole("fusewb.server", srv)
	file := fuseWBMount + "/data"
	// The truncater opens the file first: on 7.x fuse_open would wait
	// for the folio's write-back itself (invalidate_inode_pages2_range),
	// not for the inode lock.
	tr, err := start("hangfs", "fileop", "truncate=0", file)
	if err != nil {
		return err
	}
	if err := poll(fmt.Sprintf("fusewb.truncate (pid %d) opened %s", tr, file), func() bool { return lockProgress(tr) == 1 }); err != nil {
		return withWhere(err, tr)
	}
	s.addRole("fusewb.truncate", tr)
	pid, err := start("hangfs", "mmapsync", file)
	if err != nil {
		return err
	}
	s.addRole("fusewb.fsync", pid)
	if err := poll(fmt.Sprintf("fusewb.fsync (pid %d) in D in fsync", pid), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, pid))
		return err == nil && st.state == "D" && stackHasAny(pid, pid, "fuse_fsync", "fuse_sync_writes", "fuse_set_nowrite")
	}); err != nil {
		return fmt.Errorf("fusewb.fsync: %w", withWhere(err, pid))
	}
	if err := os.WriteFile(mmapGoPath(tr), nil, 0o644); err != nil {
		return err
	}
	if err := poll(fmt.Sprintf("fusewb.truncate (pid %d) in D for the inode lock", tr), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", tr))
		return err == nil && st.state == "D" && stackHasAny(tr, tr, "do_truncate", "do_sys_truncate", "vfs_truncate", "do_sys_ftruncate")
	}); err != nil {
		return fmt.Errorf("fusewb.truncate: %w", withWhere(err, tr))
	}
	return nil
}

// mmapSync sizes file to a page, dirties that page through a shared
// mapping and fsyncs the file (never returns on a server that does not
// answer WRITE).
func mmapSync(file string) error {
	fd, err := unix.Open(file, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	if err := unix.Ftruncate(fd, 4096); err != nil {
		return fmt.Errorf("mmapsync: ftruncate %s: %w", file, err)
	}
	b, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmapsync: mmap %s: %w", file, err)
	}
	b[0] = 'w'
	return unix.Fsync(fd)
}

const fuseLockMount = "/mnt/pl"

// fuselock: fuselock.writer writes 100 bytes into a new file of a server
// that never answers WRITE. The folio it wrote part of is not uptodate,
// so fuse_fill_write_pages leaves it locked for fuse_send_write_pages,
// which unlocks it once the WRITE is answered (fs/fuse/file.c). The
// write must be shorter than a page on every page size (4 to 64 KiB).
// fuselock.reader ("cat" of the file) then waits in D for that folio's
// lock: fuse_open's invalidation of the page cache, or the read itself.
func (s *stager) fuselock() error {
	srv, err := s.server(fuseLockMount, modeHangWrite)
	if err != nil {
		return err
	}
	s.addRole("fuselock.server", srv)
	file := fuseLockMount + "/data"
	w, err := start("dd", "if=/dev/zero", "of="+file, "bs=100", "count=1")
	if err != nil {
		return err
	}
	s.addRole("fuselock.writer", w)
	if err := waitStack(w, "request_wait_answer", "vfs_write"); err != nil {
		return fmt.Errorf("fuselock.writer: %w", err)
	}
	r, err := start("cat", file)
	if err != nil {
		return err
	}
	s.addRole("fuselock.reader", r)
	if err := poll(fmt.Sprintf("fuselock.reader (pid %d) in D for a folio lock", r), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", r))
		return err == nil && st.state == "D" && stackHasAny(r, r, "folio_wait_bit_common", "__folio_lock", "__folio_lock_killable", "folio_put_wait_locked", "__lock_page", "wait_on_page_bit_common")
	}); err != nil {
		return fmt.Errorf("fuselock.reader: %w", withWhere(err, r))
	}
	return nil
}
