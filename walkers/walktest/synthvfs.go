package walktest

import (
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// synthVFS adds the VFS types (shaped like 6.1) to a synthetic task kernel
// and builds dentries, mounts, super blocks and files.
type SynthVFS struct {
	*SynthTaskKernel
	Ns     uint64 // struct mnt_namespace
	nextID int
}

func newSynthVFS() *SynthVFS {
	k := NewSynthTaskKernel(1, false)
	b := k.Kernel
	ty := b.Types
	v := b.Void
	qstr := ty.Add(symtest.Layout("qstr", symtest.M("", symtest.Union("", symtest.M("", symtest.Layout("", symtest.M("hash", b.U32), symtest.M("len", b.U32))), symtest.M("hash_len", b.U64))),
		symtest.M("name", symtest.Ptr(b.Char))))
	hbl := ty.Add(symtest.Layout("hlist_bl_node", symtest.M("next", symtest.Ptr(v)), symtest.M("pprev", symtest.Ptr(v))))
	fst := ty.Add(symtest.Layout("file_system_type", symtest.M("name", symtest.Ptr(b.Char)), symtest.M("fs_flags", b.S32)))
	sb := &symbols.Type{Kind: symbols.KindStruct, Name: "super_block"}
	inode := &symbols.Type{Kind: symbols.KindStruct, Name: "inode"}
	dentry := &symbols.Type{Kind: symbols.KindStruct, Name: "dentry"}
	dops := ty.Add(symtest.Layout("dentry_operations", symtest.M("d_revalidate", symtest.Ptr(v)), symtest.M("d_hash", symtest.Ptr(v)), symtest.M("d_dname", symtest.Ptr(v))))
	symtest.LayoutInto(dentry, []symtest.Field{symtest.M("d_flags", b.U32), symtest.M("d_seq", b.U32), symtest.M("d_hash", hbl), symtest.M("d_parent", symtest.Ptr(dentry)),
		symtest.M("d_name", qstr), symtest.M("d_inode", symtest.Ptr(inode)), symtest.M("d_iname", symtest.Array(b.Char, 32)), symtest.M("d_op", symtest.Ptr(dops)),
		symtest.M("d_sb", symtest.Ptr(sb)), symtest.M("d_fsdata", symtest.Ptr(v)), symtest.M("d_child", b.ListHead), symtest.M("d_subdirs", b.ListHead),
		symtest.M("d_u", symtest.Union("", symtest.M("d_alias", b.HlistNode)))})
	ty.Add(dentry)
	symtest.LayoutInto(inode, []symtest.Field{symtest.M("i_mode", b.U16), symtest.M("i_opflags", b.U16), symtest.M("i_sb", symtest.Ptr(sb)), symtest.M("i_ino", b.U64),
		symtest.M("i_rdev", b.U32), symtest.M("i_dentry", b.HlistHead)})
	ty.Add(inode)
	symtest.LayoutInto(sb, []symtest.Field{symtest.M("s_list", b.ListHead), symtest.M("s_dev", b.U32), symtest.M("s_type", symtest.Ptr(fst)), symtest.M("s_root", symtest.Ptr(dentry)),
		symtest.M("s_mounts", b.ListHead), symtest.M("s_id", symtest.Array(b.Char, 32)), symtest.M("s_subtype", symtest.Ptr(b.Char))})
	ty.Add(sb)
	vfsmount := ty.Add(symtest.Layout("vfsmount", symtest.M("mnt_root", symtest.Ptr(dentry)), symtest.M("mnt_sb", symtest.Ptr(sb)), symtest.M("mnt_flags", b.S32)))
	mount := &symbols.Type{Kind: symbols.KindStruct, Name: "mount"}
	mntns := &symbols.Type{Kind: symbols.KindStruct, Name: "mnt_namespace"}
	symtest.LayoutInto(mount, []symtest.Field{symtest.M("mnt_hash", b.HlistNode), symtest.M("mnt_parent", symtest.Ptr(mount)), symtest.M("mnt_mountpoint", symtest.Ptr(dentry)),
		symtest.M("mnt", vfsmount), symtest.M("mnt_mounts", b.ListHead), symtest.M("mnt_child", b.ListHead), symtest.M("mnt_instance", b.ListHead),
		symtest.M("mnt_devname", symtest.Ptr(b.Char)), symtest.M("mnt_list", b.ListHead), symtest.M("mnt_ns", symtest.Ptr(mntns)), symtest.M("mnt_id", b.S32)})
	ty.Add(mount)
	symtest.LayoutInto(mntns, []symtest.Field{symtest.M("count", b.U32), symtest.M("root", symtest.Ptr(mount)), symtest.M("list", b.ListHead), symtest.M("mounts", b.U32)})
	ty.Add(mntns)
	path := ty.Add(symtest.Layout("path", symtest.M("mnt", symtest.Ptr(vfsmount)), symtest.M("dentry", symtest.Ptr(dentry))))
	file := &symbols.Type{Kind: symbols.KindStruct, Name: "file"}
	symtest.LayoutInto(file, []symtest.Field{symtest.M("f_u", symtest.Array(b.U64, 2)), symtest.M("f_path", path), symtest.M("f_inode", symtest.Ptr(inode)), symtest.M("f_op", symtest.Ptr(v)),
		symtest.M("f_lock", b.U32), symtest.M("f_count", b.S64), symtest.M("f_flags", b.U32), symtest.M("f_mode", b.U32), symtest.M("f_pos", b.S64),
		symtest.M("private_data", symtest.Ptr(v))})
	ty.Add(file)
	fdtable := ty.Add(symtest.Layout("fdtable", symtest.M("max_fds", b.U32), symtest.M("fd", symtest.Ptr(symtest.Ptr(file))), symtest.M("close_on_exec", symtest.Ptr(b.U64)),
		symtest.M("open_fds", symtest.Ptr(b.U64)), symtest.M("full_fds_bits", symtest.Ptr(b.U64))))
	ty.Add(symtest.Layout("files_struct", symtest.M("count", b.U32), symtest.M("resize_in_progress", b.U8), symtest.M("resize_wait", symtest.Array(b.U64, 3)),
		symtest.M("fdt", symtest.Ptr(fdtable)), symtest.M("fdtab", fdtable)))
	ty.Add(symtest.Layout("nsproxy", symtest.M("count", b.U32), symtest.M("uts_ns", symtest.Ptr(v)), symtest.M("ipc_ns", symtest.Ptr(v)), symtest.M("mnt_ns", symtest.Ptr(mntns))))
	ty.Add(symtest.Layout("proc_ns_operations", symtest.M("name", symtest.Ptr(b.Char)), symtest.M("real_ns_name", symtest.Ptr(b.Char)), symtest.M("type", b.S32)))

	s := &SynthVFS{SynthTaskKernel: k, nextID: 1}
	s.Ns = b.NewObj("struct mnt_namespace")
	b.ListInit(s.Ns + b.Off("struct mnt_namespace", "list"))
	// Pseudo-filesystem d_dname functions as text symbols.
	for i, fn := range []string{"pipefs_dname", "sockfs_dname", "anon_inodefs_dname"} {
		b.Syms.Add(fn, 0xffffffff81000000+uint64(i)*0x100, 0x100, 't')
	}
	return s
}

func (s *SynthVFS) str(v string) uint64 {
	a := s.Alloc(uint64(len(v)) + 1)
	s.Mem.WriteString(a, v)
	return a
}

// newSuper makes a super_block of fs type fstype with device dev.
func (s *SynthVFS) newSuper(fstype string, dev uint32) uint64 {
	fst := s.NewObj("struct file_system_type")
	s.Mem.WriteU64(fst+s.Off("struct file_system_type", "name"), s.str(fstype))
	sb := s.NewObj("struct super_block")
	s.Mem.WriteU64(sb+s.Off("struct super_block", "s_type"), fst)
	s.Mem.WriteU32(sb+s.Off("struct super_block", "s_dev"), dev)
	s.Mem.WriteString(sb+s.Off("struct super_block", "s_id"), fstype)
	s.ListInit(sb + s.Off("struct super_block", "s_mounts"))
	return sb
}

// newInode makes an inode of sb with mode and number.
func (s *SynthVFS) newInode(sb uint64, mode uint16, ino uint64) uint64 {
	i := s.NewObj("struct inode")
	s.Mem.Write(i+s.Off("struct inode", "i_mode"), []byte{byte(mode), byte(mode >> 8)})
	s.Mem.WriteU64(i+s.Off("struct inode", "i_sb"), sb)
	s.Mem.WriteU64(i+s.Off("struct inode", "i_ino"), ino)
	return i
}

// newDentry makes a hashed dentry called name under parent (0: a root,
// its own parent) for inode, linked on the inode's alias list.
func (s *SynthVFS) newDentry(parent uint64, name string, inode, sb uint64) uint64 {
	d := s.NewObj("struct dentry")
	if parent == 0 {
		parent = d
	}
	s.Mem.WriteU64(d+s.Off("struct dentry", "d_parent"), parent)
	s.Mem.WriteU32(d+s.Off("struct dentry", "d_name.len"), uint32(len(name)))
	s.Mem.WriteU64(d+s.Off("struct dentry", "d_name.name"), s.str(name))
	s.Mem.WriteU64(d+s.Off("struct dentry", "d_inode"), inode)
	s.Mem.WriteU64(d+s.Off("struct dentry", "d_sb"), sb)
	if parent != d {
		s.Mem.WriteU64(d+s.Off("struct dentry", "d_hash.pprev"), 0xffff888000000ff8) // hashed
	}
	if inode != 0 {
		s.HlistAddHead(inode+s.Off("struct inode", "i_dentry"), d+s.Off("struct dentry", "d_u.d_alias"))
	}
	return d
}

// setDname gives a dentry d_op->d_dname = the function symbol fn.
func (s *SynthVFS) setDname(d uint64, fn string) {
	ops := s.NewObj("struct dentry_operations")
	sym, _ := s.Syms.Lookup(fn)
	s.Mem.WriteU64(ops+s.Off("struct dentry_operations", "d_dname"), sym.Addr)
	s.Mem.WriteU64(d+s.Off("struct dentry", "d_op"), ops)
}

// newMount mounts sb's root dentry root on mountpoint of parent (parent 0:
// the namespace root). It returns the struct mount.
func (s *SynthVFS) newMount(parent, mountpoint, root, sb uint64, devname string) uint64 {
	m := s.NewObj("struct mount")
	if parent == 0 {
		parent, mountpoint = m, root
		s.Mem.WriteU64(s.Ns+s.Off("struct mnt_namespace", "root"), m)
	}
	s.Mem.WriteU64(m+s.Off("struct mount", "mnt_parent"), parent)
	s.Mem.WriteU64(m+s.Off("struct mount", "mnt_mountpoint"), mountpoint)
	s.Mem.WriteU64(m+s.Off("struct mount", "mnt.mnt_root"), root)
	s.Mem.WriteU64(m+s.Off("struct mount", "mnt.mnt_sb"), sb)
	s.Mem.WriteU64(m+s.Off("struct mount", "mnt_devname"), s.str(devname))
	s.Mem.WriteU64(m+s.Off("struct mount", "mnt_ns"), s.Ns)
	s.Mem.WriteU32(m+s.Off("struct mount", "mnt_id"), uint32(s.nextID))
	s.nextID++
	s.ListAddTail(s.Ns+s.Off("struct mnt_namespace", "list"), m+s.Off("struct mount", "mnt_list"))
	s.ListAddTail(sb+s.Off("struct super_block", "s_mounts"), m+s.Off("struct mount", "mnt_instance"))
	return m
}

func (s *SynthVFS) Vfsmnt(m uint64) uint64 { return m + s.Off("struct mount", "mnt") }

// NewFile opens dentry through mount m.
func (s *SynthVFS) NewFile(m, dentry uint64) uint64 {
	f := s.NewObj("struct file")
	s.Mem.WriteU64(f+s.Off("struct file", "f_path.mnt"), s.Vfsmnt(m))
	s.Mem.WriteU64(f+s.Off("struct file", "f_path.dentry"), dentry)
	inode, _ := s.Program().ReadU64(dentry + s.Off("struct dentry", "d_inode"))
	s.Mem.WriteU64(f+s.Off("struct file", "f_inode"), inode)
	s.Mem.WriteU64(f+s.Off("struct file", "f_count"), 1)
	return f
}

// SetFiles gives task an fd table of maxFds slots: files[fd] = file, with
// open_fds bits set for the fds in open.
func (s *SynthVFS) SetFiles(task uint64, maxFds int, files map[int]uint64, open []int) {
	fs := s.NewObj("struct files_struct")
	fdt := s.NewObj("struct fdtable")
	arr := s.Alloc(8 * uint64(maxFds))
	bits := s.Alloc(8 * uint64((maxFds+63)/64))
	for n, f := range files {
		s.Mem.WriteU64(arr+8*uint64(n), f)
	}
	for _, n := range open {
		w := bits + 8*uint64(n/64)
		v, _ := s.Program().ReadU64(w)
		s.Mem.WriteU64(w, v|1<<(n%64))
	}
	s.Mem.WriteU32(fdt+s.Off("struct fdtable", "max_fds"), uint32(maxFds))
	s.Mem.WriteU64(fdt+s.Off("struct fdtable", "fd"), arr)
	s.Mem.WriteU64(fdt+s.Off("struct fdtable", "open_fds"), bits)
	s.Mem.WriteU64(fs+s.Off("struct files_struct", "fdt"), fdt)
	s.Mem.WriteU64(task+s.Off("struct task_struct", "files"), fs)
}

// vfsScene is a small tree: rootfs "/" with /mnt/w, a fuse mount on /mnt/w
// holding data, a pipe and an eventpoll file on internal mounts.
type VfsScene struct {
	*SynthVFS
	RootMnt, FuseMnt, PipeMnt, AnonMnt uint64
	MntDir, WDir, Data, DataInode      uint64
	PipeD, AnonD                       uint64
	BindMnt, BindSrc, BindFile         uint64
}

func NewVFSScene() *VfsScene {
	s := &VfsScene{SynthVFS: newSynthVFS()}
	rootSB := s.newSuper("rootfs", 2)
	rootD := s.newDentry(0, "/", s.newInode(rootSB, 0o040755, 1), rootSB)
	s.RootMnt = s.newMount(0, 0, rootD, rootSB, "rootfs")
	s.MntDir = s.newDentry(rootD, "mnt", s.newInode(rootSB, 0o040755, 2), rootSB)
	s.WDir = s.newDentry(s.MntDir, "w", s.newInode(rootSB, 0o040755, 3), rootSB)
	fuseSB := s.newSuper("fuse", 24)
	s.Mem.WriteU64(fuseSB+s.Off("struct super_block", "s_subtype"), s.str("hangfs"))
	fuseRoot := s.newDentry(0, "/", s.newInode(fuseSB, 0o040755, 1), fuseSB)
	s.FuseMnt = s.newMount(s.RootMnt, s.WDir, fuseRoot, fuseSB, "hangfs-hang-write")
	s.DataInode = s.newInode(fuseSB, 0o100644, 42)
	s.Data = s.newDentry(fuseRoot, "data", s.DataInode, fuseSB)
	// /mnt/w/sub bind-mounted on /tmp/b: a second mount of the fuse
	// super block whose root is a subdirectory.
	tmp := s.newDentry(s.MountRoot(s.RootMnt), "tmp", s.newInode(rootSB, 0o040755, 4), rootSB)
	bDir := s.newDentry(tmp, "b", s.newInode(rootSB, 0o040755, 5), rootSB)
	s.BindSrc = s.newDentry(fuseRoot, "sub", s.newInode(fuseSB, 0o040755, 43), fuseSB)
	s.BindFile = s.newDentry(s.BindSrc, "file", s.newInode(fuseSB, 0o100644, 44), fuseSB)
	s.BindMnt = s.newMount(s.RootMnt, bDir, s.BindSrc, fuseSB, "hangfs-hang-write")
	// Internal mounts of pseudo filesystems: detached, their own parents.
	pipeSB := s.newSuper("pipefs", 13)
	pipeRoot := s.newDentry(0, "pipe:", s.newInode(pipeSB, 0o040700, 1), pipeSB)
	s.PipeMnt = s.newMount(0, 0, pipeRoot, pipeSB, "pipefs")
	s.PipeD = s.newDentry(pipeRoot, "", s.newInode(pipeSB, 0o010600, 11308), pipeSB)
	s.setDname(s.PipeD, "pipefs_dname")
	anonSB := s.newSuper("anon_inodefs", 14)
	anonRoot := s.newDentry(0, "anon_inode:", s.newInode(anonSB, 0o040700, 1), anonSB)
	s.AnonMnt = s.newMount(0, 0, anonRoot, anonSB, "anon_inodefs")
	s.AnonD = s.newDentry(anonRoot, "[eventpoll]", s.newInode(anonSB, 0o600, 9), anonSB)
	s.setDname(s.AnonD, "anon_inodefs_dname")
	// The pseudo mounts are not in the namespace: make rootfs its root again.
	s.Mem.WriteU64(s.Ns+s.Off("struct mnt_namespace", "root"), s.RootMnt)
	return s
}

// MountRoot reads a mount's root dentry.
func (s *VfsScene) MountRoot(m uint64) uint64 {
	v, _ := s.Program().ReadU64(m + s.Off("struct mount", "mnt.mnt_root"))
	return v
}
