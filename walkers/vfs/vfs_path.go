package vfs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// maxPathComponents bounds a path walk: a path of PATH_MAX (4096) bytes has
// at most 2048 components (include/uapi/linux/limits.h); more is a loop.
const maxPathComponents = 4096

// nameMax is NAME_MAX (include/uapi/linux/limits.h): longer is garbage.
const nameMax = 255

// DentryPath returns the path of dentry as seen through the mount whose
// struct vfsmount is at vfsmnt, from the namespace root: fs/d_path.c
// __prepend_path. At a mount's root it continues at the mount point in the
// parent mount; it stops at a mount that is its own parent (the namespace
// root or a detached tree) or at a dentry that is its own parent ("escaped"
// a bind mount). " (deleted)" is appended for an unhashed dentry that is
// not a root (d_unlinked). vfsmnt may be 0: then the path is taken from the
// filesystem's root, without crossing mounts.
func DentryPath(p *symbols.Program, vfsmnt, dentry uint64) (string, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return "", err
	}
	path, err := l.prependPath(p, vfsmnt, dentry)
	if err != nil {
		return path, err
	}
	if unlinked, err := l.unlinked(p, dentry); err == nil && unlinked {
		path += " (deleted)"
	}
	return path, nil
}

// prependPath builds the path of (vfsmnt, dentry) without " (deleted)".
func (l *vfsLayout) prependPath(p *symbols.Program, vfsmnt, dentry uint64) (string, error) {
	if dentry == 0 {
		return "", errors.New("path of a NULL dentry")
	}
	var mnt uint64 // struct mount
	if vfsmnt != 0 {
		mnt = vfsmnt - l.mntVfs.Off
	}
	var parts []string
	start := dentry
	for i := 0; ; i++ {
		if i > maxPathComponents {
			return "", fmt.Errorf("path of dentry %#x: %w: more than %d components (loop?)", start, kmem.ErrListCorrupt, maxPathComponents)
		}
		if mnt != 0 {
			root, err := readField(p, mnt, l.mntRoot, "mount.mnt.mnt_root")
			if err != nil {
				return partialPath(parts), err
			}
			if dentry == root {
				parent, err := readField(p, mnt, l.mntParent, "mount.mnt_parent")
				if err != nil {
					return partialPath(parts), err
				}
				if parent == mnt || parent == 0 {
					break // global root, or a detached tree
				}
				if dentry, err = readField(p, mnt, l.mntMountpoint, "mount.mnt_mountpoint"); err != nil {
					return partialPath(parts), err
				}
				mnt = parent
				continue
			}
		}
		parent, err := readField(p, dentry, l.dParent, "dentry.d_parent")
		if err != nil {
			return partialPath(parts), err
		}
		if parent == dentry || parent == 0 {
			break // the filesystem's root ("escaped" when it is not the mount's)
		}
		name, err := l.dentryName(p, dentry)
		if err != nil {
			return partialPath(parts), err
		}
		parts = append(parts, name)
		dentry = parent
	}
	return joinPath(parts), nil
}

// partialPath marks the components read before an error: "…/c/data"
// rather than a path that looks complete.
func partialPath(rev []string) string {
	if len(rev) == 0 {
		return ""
	}
	return "…" + joinPath(rev)
}

// joinPath joins components collected leaf first.
func joinPath(rev []string) string {
	if len(rev) == 0 {
		return "/"
	}
	var b strings.Builder
	for i := len(rev) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(rev[i])
	}
	return b.String()
}

// dentryName reads d_name (struct qstr: len and name pointer).
func (l *vfsLayout) dentryName(p *symbols.Program, dentry uint64) (string, error) {
	n, err := readField(p, dentry, l.dNameLen, "dentry.d_name.len")
	if err != nil {
		return "", err
	}
	ptr, err := readField(p, dentry, l.dNamePtr, "dentry.d_name.name")
	if err != nil {
		return "", err
	}
	if n > nameMax {
		return "", fmt.Errorf("dentry %#x: name length %d exceeds NAME_MAX", dentry, n)
	}
	if ptr == 0 {
		return "", fmt.Errorf("dentry %#x: NULL d_name.name", dentry)
	}
	b := make([]byte, n)
	if err := p.Mem.ReadVirt(b, ptr); err != nil {
		return "", fmt.Errorf("dentry %#x: d_name.name: %w", dentry, err)
	}
	return string(b), nil
}

// DentryName returns a dentry's own name (d_name).
func DentryName(p *symbols.Program, dentry uint64) (string, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return "", err
	}
	return l.dentryName(p, dentry)
}

// unlinked is d_unlinked (include/linux/dcache.h): unhashed (d_hash.pprev
// NULL) and not a root (d_parent != self).
func (l *vfsLayout) unlinked(p *symbols.Program, dentry uint64) (bool, error) {
	if !l.dHashPprev.OK {
		return false, nil
	}
	pprev, err := readField(p, dentry, l.dHashPprev, "dentry.d_hash.pprev")
	if err != nil {
		return false, err
	}
	if pprev != 0 {
		return false, nil
	}
	parent, err := readField(p, dentry, l.dParent, "dentry.d_parent")
	if err != nil {
		return false, err
	}
	return parent != dentry, nil
}

// FilePath returns the path of the struct file at file as /proc/PID/fd
// shows it (fs/d_path.c d_path): the dentry's d_dname for pseudo
// filesystems ("pipe:[1234]", "socket:[5678]", "anon_inode:[eventpoll]",
// "mnt:[4026531840]"), else the path through its mount, with " (deleted)"
// for an unlinked file.
func FilePath(p *symbols.Program, file uint64) (string, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return "", err
	}
	mnt, err := readField(p, file, l.fPathMnt, "file.f_path.mnt")
	if err != nil {
		return "", err
	}
	dentry, err := readField(p, file, l.fPathDentry, "file.f_path.dentry")
	if err != nil {
		return "", err
	}
	return l.pathOf(p, mnt, dentry)
}

// pathOf is d_path without a process root: d_dname first.
func (l *vfsLayout) pathOf(p *symbols.Program, vfsmnt, dentry uint64) (string, error) {
	if dentry == 0 {
		return "", errors.New("file has a NULL f_path.dentry")
	}
	if s, ok, err := l.dname(p, vfsmnt, dentry); ok || err != nil {
		return s, err
	}
	return DentryPath(p, vfsmnt, dentry)
}

// dname emulates the d_op->d_dname of the pseudo filesystems kwalk knows,
// called by d_path unless the dentry is the root of its mount. ok is false
// when the dentry has no d_dname (or one kwalk does not know: then the
// plain path is the best answer).
func (l *vfsLayout) dname(p *symbols.Program, vfsmnt, dentry uint64) (string, bool, error) {
	if !l.dOp.OK || !l.dopDname.OK {
		return "", false, nil
	}
	op, err := readField(p, dentry, l.dOp, "dentry.d_op")
	if err != nil || op == 0 {
		return "", false, err
	}
	fn, err := readField(p, op, l.dopDname, "dentry_operations.d_dname")
	if err != nil || fn == 0 {
		return "", false, err
	}
	// d_path: "(!IS_ROOT(dentry) || dentry != mnt->mnt_root)".
	if vfsmnt != 0 {
		parent, _ := readField(p, dentry, l.dParent, "dentry.d_parent")
		root, _ := readField(p, vfsmnt-l.mntVfs.Off, l.mntRoot, "mount.mnt.mnt_root")
		if parent == dentry && root == dentry {
			return "", false, nil
		}
	}
	kind := dnameKind(p, fn)
	if kind == "" {
		// No symbol for the function: fall back to the filesystem type.
		if fs, err := l.dentryFSType(p, dentry); err == nil {
			kind = map[string]string{"pipefs": "pipefs_dname", "sockfs": "sockfs_dname",
				"anon_inodefs": "anon_inodefs_dname", "nsfs": "ns_dname", "pidfs": "pidfs_dname"}[fs]
		}
	}
	ino := func() (uint64, error) {
		inode, err := readField(p, dentry, l.dInode, "dentry.d_inode")
		if err != nil {
			return 0, err
		}
		if inode == 0 {
			return 0, fmt.Errorf("dentry %#x: negative (no inode)", dentry)
		}
		return readField(p, inode, l.iIno, "inode.i_ino")
	}
	switch kind {
	case "pipefs_dname", "sockfs_dname": // fs/pipe.c, net/socket.c
		i, err := ino()
		if err != nil {
			return "", true, err
		}
		pre := "pipe"
		if kind == "sockfs_dname" {
			pre = "socket"
		}
		return fmt.Sprintf("%s:[%d]", pre, i), true, nil
	case "anon_inodefs_dname": // fs/anon_inodes.c: "anon_inode:%s", d_name
		n, err := l.dentryName(p, dentry)
		return "anon_inode:" + n, true, err
	case "pidfs_dname": // fs/pidfs.c (6.9+): pidfds keep their anon_inode name
		return "anon_inode:[pidfd]", true, nil
	case "ns_dname": // fs/nsfs.c: "%s:[%lu]", ns_ops->name, i_ino
		i, err := ino()
		if err != nil {
			return "", true, err
		}
		ops, err := readField(p, dentry, l.dFsdata, "dentry.d_fsdata")
		if err != nil {
			return "", true, err
		}
		namep, err := readField(p, ops, l.nsOpsName, "proc_ns_operations.name")
		if err != nil {
			return "", true, err
		}
		name, err := p.ReadString(namep, 32)
		return fmt.Sprintf("%s:[%d]", name, i), true, err
	case "simple_dname": // fs/d_path.c: "/" name " (deleted)"
		n, err := l.dentryName(p, dentry)
		return "/" + n + " (deleted)", true, err
	case "dmabuffs_dname": // drivers/dma-buf/dma-buf.c: "/%s:%s" (name not read)
		n, err := l.dentryName(p, dentry)
		return "/" + n + ":", true, err
	}
	return "", false, nil
}

// dnameKind names the d_dname function at fn, "" if unknown.
func dnameKind(p *symbols.Program, fn uint64) string {
	if p.Syms == nil {
		return ""
	}
	s, off, ok := p.Syms.LookupAddr(fn)
	if !ok || off != 0 {
		return ""
	}
	return symbols.BaseName(s.Name)
}

// dentryFSType returns dentry->d_sb->s_type->name.
func (l *vfsLayout) dentryFSType(p *symbols.Program, dentry uint64) (string, error) {
	sb, err := readField(p, dentry, l.dSb, "dentry.d_sb")
	if err != nil {
		return "", err
	}
	return l.fsTypeName(p, sb)
}

func (l *vfsLayout) fsTypeName(p *symbols.Program, sb uint64) (string, error) {
	t, err := readField(p, sb, l.sType, "super_block.s_type")
	if err != nil {
		return "", err
	}
	np, err := readField(p, t, l.fstName, "file_system_type.name")
	if err != nil {
		return "", err
	}
	return p.ReadString(np, 64)
}

// SuperInfo describes a super_block.
type SuperInfo struct {
	Addr    uint64 `json:"addr"`
	FSType  string `json:"fs_type"`           // s_type->name ("ext4", "fuse")
	Subtype string `json:"subtype,omitempty"` // s_subtype ("hangfs" of fuse.hangfs)
	ID      string `json:"id"`                // s_id
	Dev     uint32 `json:"dev"`               // s_dev, kernel dev_t (major<<20 | minor)
}

// Major and Minor split a kernel-internal dev_t (include/linux/kdev_t.h MINORBITS 20).
func (s SuperInfo) Major() uint32 { return s.Dev >> 20 }

// Minor is the minor number of s_dev.
func (s SuperInfo) Minor() uint32 { return s.Dev & (1<<20 - 1) }

// FullType is "fuse.hangfs" when there is a subtype, like /proc/self/mountinfo.
func (s SuperInfo) FullType() string {
	if s.Subtype != "" {
		return s.FSType + "." + s.Subtype
	}
	return s.FSType
}

// Super decodes the super_block at sb.
func Super(p *symbols.Program, sb uint64) (SuperInfo, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return SuperInfo{}, err
	}
	si := SuperInfo{Addr: sb}
	if si.FSType, err = l.fsTypeName(p, sb); err != nil {
		return si, err
	}
	if l.sID.OK {
		b := make([]byte, l.sID.Size)
		if err := p.Mem.ReadVirt(b, sb+l.sID.Off); err == nil {
			si.ID = kmem.CString(b)
		}
	}
	if v, err := readField(p, sb, l.sDev, "super_block.s_dev"); err == nil {
		si.Dev = uint32(v)
	}
	if sp, err := readField(p, sb, l.sSubtype, "super_block.s_subtype"); err == nil && sp != 0 {
		si.Subtype, _ = p.ReadString(sp, 64)
	}
	return si, nil
}

// InodeSuper returns the super_block of the inode at inode.
func InodeSuper(p *symbols.Program, inode uint64) (SuperInfo, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return SuperInfo{}, err
	}
	sb, err := readField(p, inode, l.iSb, "inode.i_sb")
	if err != nil {
		return SuperInfo{}, err
	}
	return Super(p, sb)
}

// InodePath returns one path of the inode at inode: its first dentry alias
// (i_dentry, linked through d_u.d_alias; d_alias in 7.1) seen through one
// mount of its super_block (s_mounts). Without a mount the path is from the
// filesystem's root, prefixed with the device ("[0:24]/dir/file").
func InodePath(p *symbols.Program, inode uint64) (string, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return "", err
	}
	if !l.iDentry.OK || !l.dAlias.OK {
		return "", fmt.Errorf("%w: inode.i_dentry / dentry.d_alias", symbols.ErrNoMember)
	}
	aliases, err := kmem.HlistNodes(p, inode+l.iDentry.Off, fmt.Sprintf("inode %#x i_dentry", inode), 64)
	if len(aliases) == 0 {
		if err != nil {
			return "", err
		}
		return "", fmt.Errorf("inode %#x has no dentry", inode)
	}
	dentry := aliases[0] - l.dAlias.Off
	sb, err := readField(p, inode, l.iSb, "inode.i_sb")
	if err != nil {
		return "", err
	}
	mnt, merr := l.firstMountOfSuper(p, sb)
	if merr != nil || mnt == 0 {
		path, err := DentryPath(p, 0, dentry)
		if si, serr := Super(p, sb); serr == nil {
			path = fmt.Sprintf("[%d:%d]%s", si.Major(), si.Minor(), path)
		}
		return path, err
	}
	return l.pathOf(p, mnt+l.mntVfs.Off, dentry)
}

// firstMountOfSuper returns a struct mount of sb, preferring one in the
// initial mount namespace: sb->s_mounts is a list of mount.mnt_instance up
// to 6.17, a singly linked struct mount * chain through mnt_next_for_sb
// from 6.18 (fs/mount.h). At most maxSuperMounts are looked at.
func (l *vfsLayout) firstMountOfSuper(p *symbols.Program, sb uint64) (uint64, error) {
	if !l.sMounts.OK {
		return 0, fmt.Errorf("%w: super_block.s_mounts", symbols.ErrNoMember)
	}
	var mounts []uint64
	if l.sMountsIsPtr {
		m, err := readField(p, sb, l.sMounts, "super_block.s_mounts")
		for seen := map[uint64]bool{}; err == nil && m != 0 && !seen[m] && len(mounts) < maxSuperMounts; {
			seen[m] = true
			mounts = append(mounts, m)
			m, err = readField(p, m, l.mntNextForSb, "mount.mnt_next_for_sb")
		}
		if len(mounts) == 0 {
			return 0, err
		}
	} else {
		if !l.mntInstance.OK {
			return 0, fmt.Errorf("%w: mount.mnt_instance", symbols.ErrNoMember)
		}
		nodes, err := kmem.ListHeadNodes(p, sb+l.sMounts.Off, fmt.Sprintf("super_block %#x s_mounts", sb), maxSuperMounts)
		if len(nodes) == 0 {
			return 0, err
		}
		for _, n := range nodes {
			mounts = append(mounts, n-l.mntInstance.Off)
		}
	}
	if initNS, err := l.initMntNS(p); err == nil && initNS != 0 {
		for _, m := range mounts {
			if ns, err := readField(p, m, l.mntNs, "mount.mnt_ns"); err == nil && ns == initNS {
				return m, nil
			}
		}
	}
	return mounts[0], nil
}

// maxSuperMounts bounds the mounts of one super block looked at.
const maxSuperMounts = 64

// initMntNS returns init_task.nsproxy->mnt_ns.
func (l *vfsLayout) initMntNS(p *symbols.Program) (uint64, error) {
	it, err := p.Symbol("init_task")
	if err != nil {
		return 0, err
	}
	nsp, err := readField(p, it, l.taskNsproxy, "init_task.nsproxy")
	if err != nil || nsp == 0 {
		return 0, err
	}
	return readField(p, nsp, l.nsproxyMntNs, "nsproxy.mnt_ns")
}

// fuseMiscRdev is /dev/fuse's device number, MKDEV(MISC_MAJOR 10,
// FUSE_MINOR 229) (include/linux/miscdevice.h; kernel dev_t is
// major<<20|minor, include/linux/kdev_t.h).
const fuseMiscRdev = 10<<20 | 229

// IsFuseDevice reports whether the struct file at file is an open
// /dev/fuse: f_op == &fuse_dev_operations (fs/fuse/dev.c; the symbol is in
// the fuse module when FUSE is modular, so module symbols must be loaded),
// or, when that symbol is unknown, an inode that is the character device
// 10:229.
func IsFuseDevice(p *symbols.Program, file uint64) (bool, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return false, err
	}
	if ops, serr := p.Symbol("fuse_dev_operations"); serr == nil {
		fop, err := readField(p, file, l.fOp, "file.f_op")
		if err != nil {
			return false, err
		}
		return fop == ops, nil
	}
	inode, err := readField(p, file, l.fInode, "file.f_inode")
	if err != nil || inode == 0 {
		return false, err
	}
	mode, err := readField(p, inode, l.iMode, "inode.i_mode")
	if err != nil {
		return false, err
	}
	if FileType(uint32(mode)) != "CHR" {
		return false, nil
	}
	rdev, err := readField(p, inode, l.iRdev, "inode.i_rdev")
	return err == nil && rdev == fuseMiscRdev, err
}
