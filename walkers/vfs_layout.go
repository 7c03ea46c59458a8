package walkers

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// vfsLayout holds the offsets of the VFS members the path and file walkers
// read, found once per Program from the types (include/linux/dcache.h,
// fs/mount.h, include/linux/mount.h, include/linux/fs.h,
// include/linux/fdtable.h).
type vfsLayout struct {
	// struct dentry
	dParent, dNameLen, dNamePtr, dInode, dOp, dSb, dHashPprev, dFsdata field
	dAlias                                                             field // d_u.d_alias (≤7.0) or d_alias (7.1, anonymous d_u)
	// struct dentry_operations
	dopDname field
	// struct mount; mntVfs is the offset of the embedded struct vfsmount
	mntParent, mntMountpoint, mntVfs, mntRoot, mntSb, mntNs, mntDevname, mntID field
	mntList, mntNode, mntInstance, mntNextForSb                                field
	// struct mnt_namespace
	nsRoot, nsList, nsMounts field
	// struct inode
	iMode, iIno, iSb, iRdev, iDentry field
	// struct super_block
	sType, sDev, sID, sSubtype, sMounts, sRoot field
	sMountsIsPtr                               bool // 6.18+: struct mount *s_mounts (mnt_next_for_sb)
	// struct file_system_type
	fstName field
	// struct file
	fPathMnt, fPathDentry, fInode, fOp, fFlags, fPos, fCount, fPrivate field
	fCountIsRef                                                        bool // file_ref_t f_ref (6.13+): value+1 references
	fileSize                                                           uint64
	// struct files_struct / struct fdtable
	filesFdt, fdtMaxFds, fdtFd, fdtOpenFds field
	// struct task_struct
	taskFiles, taskFs, taskNsproxy field
	// struct nsproxy, struct fs_struct
	nsproxyMntNs, fsRootMnt, fsRootDentry, fsPwdMnt, fsPwdDentry field
	// struct proc_ns_operations
	nsOpsName field
}

type vfsLayoutKey struct{}

func getVFSLayout(p *symbols.Program) (*vfsLayout, error) {
	v, err := p.Memo(vfsLayoutKey{}, func() (any, error) { return buildVFSLayout(p) })
	if err != nil {
		return nil, err
	}
	return v.(*vfsLayout), nil
}

func buildVFSLayout(p *symbols.Program) (*vfsLayout, error) {
	l := &vfsLayout{}
	typ := func(name string) *symbols.Type {
		t, err := p.Type(name)
		if err != nil {
			return nil
		}
		return t
	}
	need := func(what string, fs ...field) error {
		for _, f := range fs {
			if !f.ok {
				return fmt.Errorf("%w: %s (layout not recognised)", symbols.ErrNoMember, what)
			}
		}
		return nil
	}
	d := typ("struct dentry")
	m := typ("struct mount")
	if d == nil || m == nil {
		return nil, fmt.Errorf("%w: struct dentry / struct mount", symbols.ErrNoType)
	}
	l.dParent = fieldOf(d, "d_parent")
	// d_name is a member, or since 6.14 in an anonymous union with __d_name.
	l.dNameLen = fieldOf(d, "d_name.len")
	l.dNamePtr = fieldOf(d, "d_name.name")
	l.dInode = fieldOf(d, "d_inode")
	l.dOp = fieldOf(d, "d_op")
	l.dSb = fieldOf(d, "d_sb")
	l.dHashPprev = fieldOf(d, "d_hash.pprev")
	l.dFsdata = fieldOf(d, "d_fsdata")
	l.dAlias, _ = firstField(d, "d_u.d_alias", "d_alias")
	if err := need("struct dentry d_parent/d_name", l.dParent, l.dNameLen, l.dNamePtr); err != nil {
		return nil, err
	}
	if t := typ("struct dentry_operations"); t != nil {
		l.dopDname = fieldOf(t, "d_dname")
	}
	l.mntParent = fieldOf(m, "mnt_parent")
	l.mntMountpoint = fieldOf(m, "mnt_mountpoint")
	l.mntVfs = fieldOf(m, "mnt")
	l.mntRoot = fieldOf(m, "mnt.mnt_root")
	l.mntSb = fieldOf(m, "mnt.mnt_sb")
	l.mntNs = fieldOf(m, "mnt_ns")
	l.mntDevname = fieldOf(m, "mnt_devname")
	l.mntID = fieldOf(m, "mnt_id")
	l.mntList = fieldOf(m, "mnt_list")
	l.mntNode = fieldOf(m, "mnt_node")
	l.mntInstance = fieldOf(m, "mnt_instance")
	l.mntNextForSb = fieldOf(m, "mnt_next_for_sb")
	if err := need("struct mount mnt_parent/mnt_mountpoint/mnt", l.mntParent, l.mntMountpoint, l.mntVfs, l.mntRoot); err != nil {
		return nil, err
	}
	if t := typ("struct mnt_namespace"); t != nil {
		l.nsRoot = fieldOf(t, "root")
		l.nsList = fieldOf(t, "list")
		l.nsMounts = fieldOf(t, "mounts")
		// "unsigned int mounts" is a count before 6.8; the rbtree root is
		// a struct rb_root (fs/mount.h, 2eea9ce4310d).
		if mm, ok := t.FindMember("mounts"); ok {
			if r := mm.Type.Resolve(); r == nil || r.Kind != symbols.KindStruct {
				l.nsMounts = field{}
			}
		}
	}
	if t := typ("struct inode"); t != nil {
		l.iMode = fieldOf(t, "i_mode")
		l.iIno = fieldOf(t, "i_ino")
		l.iSb = fieldOf(t, "i_sb")
		l.iRdev = fieldOf(t, "i_rdev")
		l.iDentry = fieldOf(t, "i_dentry")
	}
	if t := typ("struct super_block"); t != nil {
		l.sType = fieldOf(t, "s_type")
		l.sDev = fieldOf(t, "s_dev")
		l.sID = fieldOf(t, "s_id")
		l.sSubtype = fieldOf(t, "s_subtype")
		l.sMounts = fieldOf(t, "s_mounts")
		l.sRoot = fieldOf(t, "s_root")
		if sm, ok := t.FindMember("s_mounts"); ok {
			if r := sm.Type.Resolve(); r != nil && r.Kind == symbols.KindPointer {
				l.sMountsIsPtr = true
			}
		}
	}
	if t := typ("struct file_system_type"); t != nil {
		l.fstName = fieldOf(t, "name")
	}
	if t := typ("struct file"); t != nil {
		l.fileSize = t.Resolve().Size
		l.fPathMnt = fieldOf(t, "f_path.mnt")
		l.fPathDentry = fieldOf(t, "f_path.dentry")
		l.fInode = fieldOf(t, "f_inode")
		l.fOp = fieldOf(t, "f_op")
		l.fFlags = fieldOf(t, "f_flags")
		l.fPos = fieldOf(t, "f_pos")
		l.fPrivate = fieldOf(t, "private_data")
		// atomic_long_t f_count before 6.13, file_ref_t f_ref after
		// (include/linux/file_ref.h).
		if f := fieldOf(t, "f_count"); f.ok {
			l.fCount = f
		} else if f := fieldOf(t, "f_ref"); f.ok {
			l.fCount, l.fCountIsRef = f, true
		}
	}
	if t := typ("struct files_struct"); t != nil {
		l.filesFdt = fieldOf(t, "fdt")
	}
	if t := typ("struct fdtable"); t != nil {
		l.fdtMaxFds = fieldOf(t, "max_fds")
		l.fdtFd = fieldOf(t, "fd")
		l.fdtOpenFds = fieldOf(t, "open_fds")
	}
	if t := typ("struct task_struct"); t != nil {
		l.taskFiles = fieldOf(t, "files")
		l.taskFs = fieldOf(t, "fs")
		l.taskNsproxy = fieldOf(t, "nsproxy")
	}
	if t := typ("struct nsproxy"); t != nil {
		l.nsproxyMntNs = fieldOf(t, "mnt_ns")
	}
	if t := typ("struct fs_struct"); t != nil {
		l.fsRootMnt = fieldOf(t, "root.mnt")
		l.fsRootDentry = fieldOf(t, "root.dentry")
		l.fsPwdMnt = fieldOf(t, "pwd.mnt")
		l.fsPwdDentry = fieldOf(t, "pwd.dentry")
	}
	if t := typ("struct proc_ns_operations"); t != nil {
		l.nsOpsName = fieldOf(t, "name")
	}
	return l, nil
}

// readField reads the integer f at base.
func readField(p *symbols.Program, base uint64, f field, what string) (uint64, error) {
	if !f.ok {
		return 0, fmt.Errorf("%w: %s", symbols.ErrNoMember, what)
	}
	var b [8]byte
	if f.size == 0 || f.size > 8 {
		return 0, fmt.Errorf("%s: size %d is not an integer", what, f.size)
	}
	if err := p.Mem.ReadVirt(b[:f.size], base+f.off); err != nil {
		return 0, fmt.Errorf("%s of %#x: %w", what, base, err)
	}
	v, _ := field{off: 0, size: f.size, ok: true}.uintAt(b[:])
	return v, nil
}
