package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Server modes: how the file system misbehaves.
const (
	modeHangWrite = "hang-write" // WRITE is never answered
	modeHangRead  = "hang-read"  // READ is never answered; no async_read; page cache kept on open
	modeReenter   = "reenter"    // WRITE truncates the same file through the mount first
	modeSelfFlush = "selfflush"  // holds a file of its own mount on fd 0 (see serve)
	modePlain     = "plain"      // answers everything

	// modeHangReadDirect: READ is never answered and files are opened with
	// FOPEN_DIRECT_IO, so read(2) sends READ itself, past the page cache.
	modeHangReadDirect = "hang-read-direct"
)

const rootID = fuse.FUSE_ROOT_ID

// cacheTTL keeps the kernel from asking again: the hangs must not depend on
// lookups that the staged blocking could delay.
const cacheTTL = time.Hour

type node struct {
	id   uint64
	name string
	size uint64
}

// hangFS is a flat in-memory file system whose misbehaviour is its mode.
type hangFS struct {
	fuse.RawFileSystem
	mode       string
	mountPoint string

	mu     sync.Mutex
	nextID uint64
	byName map[string]*node
	byID   map[uint64]*node
}

func newHangFS(mountPoint, mode string) *hangFS {
	fs := &hangFS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		mode:          mode,
		mountPoint:    mountPoint,
		nextID:        rootID + 1,
		byName:        map[string]*node{},
		byID:          map[uint64]*node{},
	}
	data := fs.addLocked("data")
	if fs.hangsRead() {
		// Reads past the size are answered by the kernel without a READ.
		data.size = hangReadSize
	}
	return fs
}

// hangReadSize is the size of "data" where READ is never answered.
const hangReadSize = 1 << 20

func (fs *hangFS) hangsRead() bool { return fs.mode == modeHangRead || fs.mode == modeHangReadDirect }

func (fs *hangFS) String() string { return "hangfs-" + fs.mode }

func (fs *hangFS) addLocked(name string) *node {
	n := &node{id: fs.nextID, name: name}
	fs.nextID++
	fs.byName[name] = n
	fs.byID[n.id] = n
	return n
}

func (fs *hangFS) fillAttr(id uint64, a *fuse.Attr) bool {
	a.Ino = id
	a.Blksize = 4096
	if id == rootID {
		a.Mode = syscall.S_IFDIR | 0o777
		a.Nlink = 2
		return true
	}
	n := fs.byID[id]
	if n == nil {
		return false
	}
	a.Mode = syscall.S_IFREG | 0o666
	a.Nlink = 1
	a.Size = n.size
	a.Blocks = (n.size + 511) / 512
	return true
}

func (fs *hangFS) fillEntry(n *node, out *fuse.EntryOut) {
	out.NodeId = n.id
	out.Generation = 1
	out.SetEntryTimeout(cacheTTL)
	out.SetAttrTimeout(cacheTTL)
	fs.fillAttr(n.id, &out.Attr)
}

func (fs *hangFS) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if h.NodeId != rootID {
		return fuse.ENOTDIR
	}
	n := fs.byName[name]
	if n == nil {
		return fuse.ENOENT
	}
	fs.fillEntry(n, out)
	return fuse.OK
}

func (fs *hangFS) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.fillAttr(in.NodeId, &out.Attr) {
		return fuse.ENOENT
	}
	out.SetTimeout(cacheTTL)
	return fuse.OK
}

func (fs *hangFS) SetAttr(_ <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.byID[in.NodeId]
	if n == nil && in.NodeId != rootID {
		return fuse.ENOENT
	}
	if sz, ok := in.GetSize(); ok && n != nil {
		n.size = sz
	}
	fs.fillAttr(in.NodeId, &out.Attr)
	out.SetTimeout(cacheTTL)
	return fuse.OK
}

func (fs *hangFS) create(name string, out *fuse.EntryOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.byName[name]
	if n == nil {
		n = fs.addLocked(name)
	}
	fs.fillEntry(n, out)
	return fuse.OK
}

func (fs *hangFS) Create(_ <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if in.NodeId != rootID {
		return fuse.ENOTDIR
	}
	st := fs.create(name, &out.EntryOut)
	out.OpenOut.Fh = out.EntryOut.NodeId
	return st
}

func (fs *hangFS) Mknod(_ <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if in.NodeId != rootID {
		return fuse.ENOTDIR
	}
	return fs.create(name, out)
}

func (fs *hangFS) Unlink(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.byName[name]
	if n == nil {
		return fuse.ENOENT
	}
	delete(fs.byName, name)
	return fuse.OK
}

func (fs *hangFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	out.Fh = in.NodeId
	switch fs.mode {
	case modeHangReadDirect:
		out.OpenFlags |= fuse.FOPEN_DIRECT_IO
	case modeHangRead:
		// Without it, open invalidates the page cache and waits for a
		// folio locked by a pending READ there, not in read(2).
		out.OpenFlags |= fuse.FOPEN_KEEP_CACHE
	}
	return fuse.OK
}

func (fs *hangFS) Access(_ <-chan struct{}, _ *fuse.AccessIn) fuse.Status { return fuse.OK }

func (fs *hangFS) Flush(_ <-chan struct{}, _ *fuse.FlushIn) fuse.Status { return fuse.OK }

func (fs *hangFS) Fsync(_ <-chan struct{}, _ *fuse.FsyncIn) fuse.Status { return fuse.OK }

func (fs *hangFS) Release(_ <-chan struct{}, _ *fuse.ReleaseIn) {}

func (fs *hangFS) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if fs.hangsRead() {
		select {} // never answer: the reader waits in request_wait_answer
	}
	fs.mu.Lock()
	n := fs.byID[in.NodeId]
	size := uint64(0)
	if n != nil {
		size = n.size
	}
	fs.mu.Unlock()
	if in.Offset >= size {
		return fuse.ReadResultData(nil), fuse.OK
	}
	want := min(uint64(len(buf)), size-in.Offset)
	clear(buf[:want])
	return fuse.ReadResultData(buf[:want]), fuse.OK
}

func (fs *hangFS) Write(_ <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	switch fs.mode {
	case modeHangWrite:
		select {} // never answer: the writer keeps the inode lock
	case modeReenter:
		// The writer holds the inode lock of this file while it waits for
		// us; truncating it through our own mount waits for that lock.
		fs.mu.Lock()
		n := fs.byID[in.NodeId]
		fs.mu.Unlock()
		if n != nil {
			if err := os.Truncate(filepath.Join(fs.mountPoint, n.name), 0); err != nil {
				fmt.Fprintf(os.Stderr, "hangfs: reenter truncate: %v\n", err)
			}
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n := fs.byID[in.NodeId]; n != nil {
		n.size = max(n.size, in.Offset+uint64(len(data)))
	}
	return uint32(len(data)), fuse.OK
}

func (fs *hangFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != rootID {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

func (fs *hangFS) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	names := make([]string, 0, len(fs.byName))
	for name := range fs.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for i := int(in.Offset); i < len(names); i++ {
		n := fs.byName[names[i]]
		if !out.AddDirEntry(fuse.DirEntry{Mode: syscall.S_IFREG, Name: n.name, Ino: n.id}) {
			break
		}
	}
	return fuse.OK
}

func (fs *hangFS) ReleaseDir(_ *fuse.ReleaseIn) {}

func (fs *hangFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize = 4096
	out.Blocks = 1 << 20
	out.Bfree = 1 << 19
	out.Bavail = 1 << 19
	out.NameLen = 255
	return fuse.OK
}
