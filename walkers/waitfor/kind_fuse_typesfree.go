package waitfor

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// A fuseConnSource is one way of telling which FUSE connection a task in
// request_wait_answer waits on, without the request's types: the
// superblocks of the files (or inodes) it found, and how.
type fuseConnSource struct {
	how string
	sbs []uint64
}

// waiterFuseConn names the FUSE connection a task in request_wait_answer
// (fs/fuse/dev.c) waits on when the request cannot be decoded, from the
// file it is operating on: the file of its system call's fd argument,
// else the struct files and inodes of FUSE superblocks on its stack (the
// file being flushed on exit has already left the fd table: fs/file.c
// close_files), else its open files. The first source that names exactly
// one connection wins; certain is true when that is the syscall's fd
// (a path lookup or a stale stack word may concern another file). cands are every connection any
// source named, for when none names just one.
func (a *waitAnalysis) waiterFuseConn(t *sched.Task) (conn *fuse.FuseConn, how string, certain bool, cands []uint32) {
	sbConn := map[uint64]*fuse.FuseConn{}
	sbs := map[uint64]bool{}
	for _, c := range a.conns {
		for _, m := range c.Mounts {
			sbConn[m.SuperBlock] = c
			sbs[m.SuperBlock] = true
		}
	}
	if len(sbs) == 0 {
		return nil, "", false, nil
	}
	sources := []fuseConnSource{a.syscallFileSB(t, sbs), a.stackFSObjects(t, sbs), a.openFilesSB(t, sbs)}
	seenID := map[uint32]bool{}
	for i, src := range sources {
		found := map[*fuse.FuseConn]bool{}
		for _, sb := range src.sbs {
			if c := sbConn[sb]; c != nil {
				found[c] = true
				if !seenID[c.ID] {
					seenID[c.ID] = true
					cands = append(cands, c.ID)
				}
			}
		}
		if len(found) != 1 || conn != nil {
			continue
		}
		for c := range found {
			conn = c
		}
		how = src.how
		certain = i == 0
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
	return conn, how, certain, cands
}

// syscallFileSB: the superblock of the file behind the fd arguments of
// the task's system call (write(fd, …), fsync(fd), …).
func (a *waitAnalysis) syscallFileSB(t *sched.Task, sbs map[uint64]bool) fuseConnSource {
	sc, err := unwind.DecodeSyscall(a.p, t.Obj, a.Trace(t), unwind.SyscallOptions{MaxString: 1})
	if err != nil || sc == nil {
		return fuseConnSource{}
	}
	files, err := t.Obj.MemberUint("files")
	if err != nil || files == 0 {
		return fuseConnSource{}
	}
	var slots []vfs.FDSlot
	var src fuseConnSource
	for _, arg := range sc.Args {
		// Only plain fds: a directory fd's path argument may lead
		// elsewhere (.., a mount below it).
		if arg.Kind != unwind.ArgFD {
			continue
		}
		fd := int(int32(arg.Value))
		if fd < 0 {
			continue
		}
		if slots == nil {
			if slots, _ = vfs.FDTable(a.p, files); slots == nil {
				return fuseConnSource{}
			}
		}
		for _, s := range slots {
			if s.FD != fd {
				continue
			}
			if sb, ok := a.fileSB(s.File); ok && sbs[sb] {
				src.sbs = append(src.sbs, sb)
				src.how = fmt.Sprintf("the file of its %s() fd %d", sc.Name, fd)
			}
		}
	}
	return src
}

// fileSB returns file->f_inode->i_sb.
func (a *waitAnalysis) fileSB(f uint64) (uint64, bool) {
	file, err := a.p.Object("struct file", f)
	if err != nil {
		return 0, false
	}
	sb, err := file.MemberUint("f_inode->i_sb")
	return sb, err == nil
}

// stackFSObjects: struct file and struct inode pointers on the task's
// stack whose superblock is a FUSE one. An inode is believed only when
// its i_mapping points at its own i_data (fs/inode.c inode_init_always);
// a file when its f_inode's i_sb is a FUSE superblock.
func (a *waitAnalysis) stackFSObjects(t *sched.Task, sbs map[uint64]bool) fuseConnSource {
	stack, base := a.Stack(t)
	if stack == nil {
		return fuseConnSource{}
	}
	p := a.p
	fInode, err1 := p.OffsetOf("struct file", "f_inode")
	iSB, err2 := p.OffsetOf("struct inode", "i_sb")
	iMapping, err3 := p.OffsetOf("struct inode", "i_mapping")
	iData, err4 := p.OffsetOf("struct inode", "i_data")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return fuseConnSource{}
	}
	seen := map[uint64]bool{}
	var src fuseConnSource
	var kinds []string
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		// An inode of a FUSE superblock?
		if m, err := p.ReadU64(v + iMapping); err == nil && m == v+iData {
			if sb, err := p.ReadU64(v + iSB); err == nil && sbs[sb] {
				src.sbs = append(src.sbs, sb)
				kinds = appendOnce(kinds, "inode")
				continue
			}
		}
		// A file whose inode is on one?
		in, err := p.ReadU64(v + fInode)
		if err != nil || !kmem.IsKernelPointer(in) {
			continue
		}
		if m, err := p.ReadU64(in + iMapping); err != nil || m != in+iData {
			continue
		}
		if sb, err := p.ReadU64(in + iSB); err == nil && sbs[sb] {
			src.sbs = append(src.sbs, sb)
			kinds = appendOnce(kinds, "struct file")
		}
	}
	if len(src.sbs) > 0 {
		for i, k := range kinds {
			art := "a "
			if k == "inode" {
				art = "an "
			}
			kinds[i] = art + k
		}
		src.how = strings.Join(kinds, " and ") + " of a FUSE superblock on its stack"
	}
	return src
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// openFilesSB: the FUSE superblocks of the task's open files (or of the
// files_struct an exiting task is closing, kernel/exit.c exit_files).
func (a *waitAnalysis) openFilesSB(t *sched.Task, sbs map[uint64]bool) fuseConnSource {
	files, err := t.Obj.MemberUint("files")
	if err != nil {
		return fuseConnSource{}
	}
	how := "its open files"
	if files == 0 && t.Exiting() {
		if stack, base := a.Stack(t); stack != nil {
			files = fuse.ClosingFiles(a.p, stack, base)
			how = "the files_struct it is closing on exit"
		}
	}
	if files == 0 {
		return fuseConnSource{}
	}
	var src fuseConnSource
	for _, f := range fuse.FilesOnSuperBlocks(a.p, files, sbs) {
		src.sbs = append(src.sbs, f.SB)
	}
	if len(src.sbs) > 0 {
		src.how = how + " (only on this FUSE connection)"
	}
	return src
}

// fuseWaitTypesFree is the wait of a task in request_wait_answer whose
// request cannot be decoded (no FUSE types), with its connection named
// from the file it operates on and the connection's servers matched
// through fuse_dev.fc. ok is false when no single connection is found.
func (a *waitAnalysis) fuseWaitTypesFree(t *sched.Task, qh uint64) (TaskWait, []uint32, bool) {
	fc, how, certain, cands := a.waiterFuseConn(t)
	if fc == nil {
		return TaskWait{}, cands, false
	}
	connHow := ""
	if fc.ConnHow != "" {
		connHow = "; " + fc.ConnHow
	}
	w := TaskWait{Task: a.Blocked(t), Kind: WaitFuseRequest, Certain: certain,
		How: fmt.Sprintf("wait_queue_entry on the task's stack, linked into a wait queue, in request_wait_answer (fs/fuse/dev.c); connection %d from %s%s",
			fc.ID, how, connHow)}
	ref := &FuseReqRef{Conn: fc.Addr, ConnID: fc.ID, Remedy: fc.Remedy, Undecoded: true}
	for _, m := range fc.Mounts {
		ref.MountPoints = append(ref.MountPoints, m.MountPoints...)
	}
	why := "request opcode unknown without fuse types"
	if op, frame := fuseOpFromFrames(w.Task.Frames); op != "" && fc.TypesFree {
		why = fmt.Sprintf("%s, the opcode from the frame %s: no fuse types to read the request", op, frame)
		ref.Op, ref.OpFrom = op, "frame "+frame
	}
	if !fc.TypesFree {
		// Typed, but the request is on no queue kwalk walks.
		why = "request not found on the connection's queues"
	}
	what := fmt.Sprintf("a FUSE request (%s; wait queue %#x) on connection %d", why, qh, fc.ID)
	if len(ref.MountPoints) > 0 {
		what += " (" + strings.Join(ref.MountPoints, ", ") + ")"
	}
	w.Object = WaitObject{Type: "fuse_req waitq", Addr: qh, What: what, Fuse: ref}
	w.Holders = a.fuseHolders(fc.Addr)
	if len(w.Holders) == 0 {
		w.Note = "no task holds a /dev/fuse file whose fuse_dev.fc is this connection (read without FUSE types): the server looks gone"
	}
	if len(cands) > 1 {
		// A weaker source named other connections too: keep them.
		w.Certain = false
		w.Object.FuseCandidates = cands
		if w.Note != "" {
			w.Note += "; "
		}
		w.Note += fmt.Sprintf("the task also has files on connections %v (the request's connection was taken from %s)", cands, how)
	}
	return w, cands, true
}

// fuseHolders are the server tasks of connection conn as holders (hints:
// the kernel does not record which server thread answers a request).
func (a *waitAnalysis) fuseHolders(conn uint64) []Holder {
	var out []Holder
	for i, s := range a.servers[conn] {
		how := "FUSE server: " + s.How
		// fs/fuse/dev.c fuse_dev_do_read: a server thread asleep there is
		// waiting for new requests (bounded: the first threads only).
		if st := a.byAddr[s.Task.Addr]; i < maxServerLook && st != nil && st.State == "S" && a.HasFrame(st, fuseServerIdle) {
			how += ", idle in fuse_dev_do_read (waiting for new requests)"
		}
		out = append(out, Holder{Task: s.Task, How: how, Certain: false})
	}
	return out
}

// fuseOpFrames names the opcode of the request a function of fs/fuse/
// sends and waits for (fs/fuse/{file,dir,xattr,inode}.c, 5.10 through
// 7.x). Without the fuse module's types the request cannot be read, but
// the function that sent it is on the waiter's stack.
var fuseOpFrames = map[string]string{
	"fuse_flush": "FLUSH", "fuse_fsync": "FSYNC", "fuse_fsync_common": "FSYNC", "fuse_dir_fsync": "FSYNCDIR",
	"fuse_perform_write": "WRITE", "fuse_send_write": "WRITE", "fuse_send_write_pages": "WRITE", "fuse_writepage_locked": "WRITE",
	"fuse_do_readpage": "READ", "fuse_do_readfolio": "READ", "fuse_readpage": "READ", "fuse_read_folio": "READ", "fuse_send_read": "READ",
	"fuse_lookup_name": "LOOKUP", "fuse_lookup": "LOOKUP", "fuse_dentry_revalidate": "LOOKUP",
	"fuse_do_getattr": "GETATTR", "fuse_update_get_attr": "GETATTR", "fuse_do_setattr": "SETATTR",
	"fuse_do_open": "OPEN", "fuse_open_common": "OPEN", "fuse_create_open": "CREATE", "fuse_atomic_open": "CREATE",
	"fuse_mknod": "MKNOD", "fuse_mkdir": "MKDIR", "fuse_symlink": "SYMLINK", "fuse_link": "LINK",
	"fuse_unlink": "UNLINK", "fuse_rmdir": "RMDIR", "fuse_rename_common": "RENAME", "fuse_rename2": "RENAME2",
	"fuse_readdir_uncached": "READDIR", "fuse_readdir": "READDIR", "fuse_readlink_page": "READLINK", "fuse_get_link": "READLINK",
	"fuse_getxattr": "GETXATTR", "fuse_setxattr": "SETXATTR", "fuse_listxattr": "LISTXATTR", "fuse_removexattr": "REMOVEXATTR",
	"fuse_statfs": "STATFS", "fuse_file_fallocate": "FALLOCATE", "fuse_setlk": "SETLK", "fuse_getlk": "GETLK",
	"fuse_access": "ACCESS", "fuse_do_ioctl": "IOCTL", "fuse_file_poll": "POLL", "fuse_lseek": "LSEEK",
	"fuse_copy_file_range": "COPY_FILE_RANGE", "__fuse_copy_file_range": "COPY_FILE_RANGE", "fuse_bmap": "BMAP",
}

// fuseOpFromFrames returns the opcode and the frame naming it: the
// innermost frame of the waiter's stack that sends a known request.
func fuseOpFromFrames(frames []string) (op, frame string) {
	for _, f := range frames {
		name := f
		if i := strings.IndexByte(name, ' '); i > 0 {
			name = name[:i] // "fuse_flush [fuse]"
		}
		if op, ok := fuseOpFrames[waitkind.BaseName(name)]; ok {
			return op, waitkind.BaseName(name)
		}
	}
	return "", ""
}
