package vfs

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// vfsLayout holds the offsets of the VFS members the path and file walkers
// read, found once per Program from the types (include/linux/dcache.h,
// fs/mount.h, include/linux/mount.h, include/linux/fs.h,
// include/linux/fdtable.h).
type vfsLayout struct {
	// struct dentry
	dParent, dNameLen, dNamePtr, dInode, dOp, dSb, dHashPprev, dFsdata kmem.Field
	dAlias                                                             kmem.Field // d_u.d_alias (≤7.0) or d_alias (7.1, anonymous d_u)
	// struct dentry_operations
	dopDname kmem.Field
	// struct mount; mntVfs is the offset of the embedded struct vfsmount
	mntParent, mntMountpoint, mntVfs, mntRoot, mntSb, mntNs, mntDevname, mntID kmem.Field
	mntList, mntNode, mntInstance, mntNextForSb                                kmem.Field
	// struct mnt_namespace
	nsRoot, nsList, nsMounts kmem.Field
	// struct inode
	iMode, iIno, iSb, iRdev, iDentry kmem.Field
	// struct super_block
	sType, sDev, sID, sSubtype, sMounts, sRoot kmem.Field
	sMountsIsPtr                               bool // 6.18+: struct mount *s_mounts (mnt_next_for_sb)
	// struct file_system_type
	fstName kmem.Field
	// struct file
	fPathMnt, fPathDentry, fInode, fOp, fFlags, fPos, fCount, fPrivate kmem.Field
	fCountIsRef                                                        bool // file_ref_t f_ref (6.13+): value+1 references
	fileSize                                                           uint64
	// struct files_struct / struct fdtable
	filesFdt, fdtMaxFds, fdtFd, fdtOpenFds kmem.Field
	// struct task_struct
	taskFiles, taskFs, taskNsproxy kmem.Field
	// struct nsproxy, struct fs_struct
	nsproxyMntNs, fsRootMnt, fsRootDentry, fsPwdMnt, fsPwdDentry kmem.Field
	// struct proc_ns_operations
	nsOpsName kmem.Field
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
	need := func(what string, fs ...kmem.Field) error {
		for _, f := range fs {
			if !f.OK {
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
	l.dParent = kmem.FieldOf(d, "d_parent")
	// d_name is a member, or since 6.14 in an anonymous union with __d_name.
	l.dNameLen = kmem.FieldOf(d, "d_name.len")
	l.dNamePtr = kmem.FieldOf(d, "d_name.name")
	l.dInode = kmem.FieldOf(d, "d_inode")
	l.dOp = kmem.FieldOf(d, "d_op")
	l.dSb = kmem.FieldOf(d, "d_sb")
	l.dHashPprev = kmem.FieldOf(d, "d_hash.pprev")
	l.dFsdata = kmem.FieldOf(d, "d_fsdata")
	l.dAlias, _ = kmem.FirstField(d, "d_u.d_alias", "d_alias")
	if err := need("struct dentry d_parent/d_name", l.dParent, l.dNameLen, l.dNamePtr); err != nil {
		return nil, err
	}
	if t := typ("struct dentry_operations"); t != nil {
		l.dopDname = kmem.FieldOf(t, "d_dname")
	}
	l.mntParent = kmem.FieldOf(m, "mnt_parent")
	l.mntMountpoint = kmem.FieldOf(m, "mnt_mountpoint")
	l.mntVfs = kmem.FieldOf(m, "mnt")
	l.mntRoot = kmem.FieldOf(m, "mnt.mnt_root")
	l.mntSb = kmem.FieldOf(m, "mnt.mnt_sb")
	l.mntNs = kmem.FieldOf(m, "mnt_ns")
	l.mntDevname = kmem.FieldOf(m, "mnt_devname")
	l.mntID = kmem.FieldOf(m, "mnt_id")
	l.mntList = kmem.FieldOf(m, "mnt_list")
	l.mntNode = kmem.FieldOf(m, "mnt_node")
	l.mntInstance = kmem.FieldOf(m, "mnt_instance")
	l.mntNextForSb = kmem.FieldOf(m, "mnt_next_for_sb")
	if err := need("struct mount mnt_parent/mnt_mountpoint/mnt", l.mntParent, l.mntMountpoint, l.mntVfs, l.mntRoot); err != nil {
		return nil, err
	}
	if t := typ("struct mnt_namespace"); t != nil {
		l.nsRoot = kmem.FieldOf(t, "root")
		l.nsList = kmem.FieldOf(t, "list")
		l.nsMounts = kmem.FieldOf(t, "mounts")
		// "unsigned int mounts" is a count before 6.8; the rbtree root is
		// a struct rb_root (fs/mount.h, 2eea9ce4310d).
		if mm, ok := t.FindMember("mounts"); ok {
			if r := mm.Type.Resolve(); r == nil || r.Kind != symbols.KindStruct {
				l.nsMounts = kmem.Field{}
			}
		}
	}
	if t := typ("struct inode"); t != nil {
		l.iMode = kmem.FieldOf(t, "i_mode")
		l.iIno = kmem.FieldOf(t, "i_ino")
		l.iSb = kmem.FieldOf(t, "i_sb")
		l.iRdev = kmem.FieldOf(t, "i_rdev")
		l.iDentry = kmem.FieldOf(t, "i_dentry")
	}
	if t := typ("struct super_block"); t != nil {
		l.sType = kmem.FieldOf(t, "s_type")
		l.sDev = kmem.FieldOf(t, "s_dev")
		l.sID = kmem.FieldOf(t, "s_id")
		l.sSubtype = kmem.FieldOf(t, "s_subtype")
		l.sMounts = kmem.FieldOf(t, "s_mounts")
		l.sRoot = kmem.FieldOf(t, "s_root")
		if sm, ok := t.FindMember("s_mounts"); ok {
			if r := sm.Type.Resolve(); r != nil && r.Kind == symbols.KindPointer {
				l.sMountsIsPtr = true
			}
		}
	}
	if t := typ("struct file_system_type"); t != nil {
		l.fstName = kmem.FieldOf(t, "name")
	}
	if t := typ("struct file"); t != nil {
		l.fileSize = t.Resolve().Size
		l.fPathMnt = kmem.FieldOf(t, "f_path.mnt")
		l.fPathDentry = kmem.FieldOf(t, "f_path.dentry")
		l.fInode = kmem.FieldOf(t, "f_inode")
		l.fOp = kmem.FieldOf(t, "f_op")
		l.fFlags = kmem.FieldOf(t, "f_flags")
		l.fPos = kmem.FieldOf(t, "f_pos")
		l.fPrivate = kmem.FieldOf(t, "private_data")
		// atomic_long_t f_count before 6.13, file_ref_t f_ref after
		// (include/linux/file_ref.h).
		if f := kmem.FieldOf(t, "f_count"); f.OK {
			l.fCount = f
		} else if f := kmem.FieldOf(t, "f_ref"); f.OK {
			l.fCount, l.fCountIsRef = f, true
		}
	}
	if t := typ("struct files_struct"); t != nil {
		l.filesFdt = kmem.FieldOf(t, "fdt")
	}
	if t := typ("struct fdtable"); t != nil {
		l.fdtMaxFds = kmem.FieldOf(t, "max_fds")
		l.fdtFd = kmem.FieldOf(t, "fd")
		l.fdtOpenFds = kmem.FieldOf(t, "open_fds")
	}
	if t := typ("struct task_struct"); t != nil {
		l.taskFiles = kmem.FieldOf(t, "files")
		l.taskFs = kmem.FieldOf(t, "fs")
		l.taskNsproxy = kmem.FieldOf(t, "nsproxy")
	}
	if t := typ("struct nsproxy"); t != nil {
		l.nsproxyMntNs = kmem.FieldOf(t, "mnt_ns")
	}
	if t := typ("struct fs_struct"); t != nil {
		l.fsRootMnt = kmem.FieldOf(t, "root.mnt")
		l.fsRootDentry = kmem.FieldOf(t, "root.dentry")
		l.fsPwdMnt = kmem.FieldOf(t, "pwd.mnt")
		l.fsPwdDentry = kmem.FieldOf(t, "pwd.dentry")
	}
	if t := typ("struct proc_ns_operations"); t != nil {
		l.nsOpsName = kmem.FieldOf(t, "name")
	}
	return l, nil
}

// readField reads the integer f at base.
func readField(p *symbols.Program, base uint64, f kmem.Field, what string) (uint64, error) {
	if !f.OK {
		return 0, fmt.Errorf("%w: %s", symbols.ErrNoMember, what)
	}
	var b [8]byte
	if f.Size == 0 || f.Size > 8 {
		return 0, fmt.Errorf("%s: size %d is not an integer", what, f.Size)
	}
	if err := p.Mem.ReadVirt(b[:f.Size], base+f.Off); err != nil {
		return 0, fmt.Errorf("%s of %#x: %w", what, base, err)
	}
	v, _ := kmem.Field{Off: 0, Size: f.Size, OK: true}.UintAt(b[:])
	return v, nil
}
