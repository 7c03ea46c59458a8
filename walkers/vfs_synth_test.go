package walkers

import (
	"github.com/kwalk/kwalk/symbols"
)

// synthVFS adds the VFS types (shaped like 6.1) to a synthetic task kernel
// and builds dentries, mounts, super blocks and files.
type synthVFS struct {
	*synthTaskKernel
	ns     uint64 // struct mnt_namespace
	nextID int
}

func newSynthVFS() *synthVFS {
	k := newSynthTaskKernel(1, false)
	b := k.synthBase
	ty := b.types
	v := b.void
	qstr := ty.add(tStruct("qstr", fd("", tUnion("", fd("", tStruct("", fd("hash", b.u32), fd("len", b.u32))), fd("hash_len", b.u64))),
		fd("name", tPtr(b.char))))
	hbl := ty.add(tStruct("hlist_bl_node", fd("next", tPtr(v)), fd("pprev", tPtr(v))))
	fst := ty.add(tStruct("file_system_type", fd("name", tPtr(b.char)), fd("fs_flags", b.s32)))
	sb := &symbols.Type{Kind: symbols.KindStruct, Name: "super_block"}
	inode := &symbols.Type{Kind: symbols.KindStruct, Name: "inode"}
	dentry := &symbols.Type{Kind: symbols.KindStruct, Name: "dentry"}
	dops := ty.add(tStruct("dentry_operations", fd("d_revalidate", tPtr(v)), fd("d_hash", tPtr(v)), fd("d_dname", tPtr(v))))
	layoutInto(dentry, []fdef{fd("d_flags", b.u32), fd("d_seq", b.u32), fd("d_hash", hbl), fd("d_parent", tPtr(dentry)),
		fd("d_name", qstr), fd("d_inode", tPtr(inode)), fd("d_iname", tArr(b.char, 32)), fd("d_op", tPtr(dops)),
		fd("d_sb", tPtr(sb)), fd("d_fsdata", tPtr(v)), fd("d_child", b.listHead), fd("d_subdirs", b.listHead),
		fd("d_u", tUnion("", fd("d_alias", b.hlistNode)))})
	ty.add(dentry)
	layoutInto(inode, []fdef{fd("i_mode", b.u16), fd("i_opflags", b.u16), fd("i_sb", tPtr(sb)), fd("i_ino", b.u64),
		fd("i_rdev", b.u32), fd("i_dentry", b.hlistHead)})
	ty.add(inode)
	layoutInto(sb, []fdef{fd("s_list", b.listHead), fd("s_dev", b.u32), fd("s_type", tPtr(fst)), fd("s_root", tPtr(dentry)),
		fd("s_mounts", b.listHead), fd("s_id", tArr(b.char, 32)), fd("s_subtype", tPtr(b.char))})
	ty.add(sb)
	vfsmount := ty.add(tStruct("vfsmount", fd("mnt_root", tPtr(dentry)), fd("mnt_sb", tPtr(sb)), fd("mnt_flags", b.s32)))
	mount := &symbols.Type{Kind: symbols.KindStruct, Name: "mount"}
	mntns := &symbols.Type{Kind: symbols.KindStruct, Name: "mnt_namespace"}
	layoutInto(mount, []fdef{fd("mnt_hash", b.hlistNode), fd("mnt_parent", tPtr(mount)), fd("mnt_mountpoint", tPtr(dentry)),
		fd("mnt", vfsmount), fd("mnt_mounts", b.listHead), fd("mnt_child", b.listHead), fd("mnt_instance", b.listHead),
		fd("mnt_devname", tPtr(b.char)), fd("mnt_list", b.listHead), fd("mnt_ns", tPtr(mntns)), fd("mnt_id", b.s32)})
	ty.add(mount)
	layoutInto(mntns, []fdef{fd("count", b.u32), fd("root", tPtr(mount)), fd("list", b.listHead), fd("mounts", b.u32)})
	ty.add(mntns)
	path := ty.add(tStruct("path", fd("mnt", tPtr(vfsmount)), fd("dentry", tPtr(dentry))))
	file := &symbols.Type{Kind: symbols.KindStruct, Name: "file"}
	layoutInto(file, []fdef{fd("f_u", tArr(b.u64, 2)), fd("f_path", path), fd("f_inode", tPtr(inode)), fd("f_op", tPtr(v)),
		fd("f_lock", b.u32), fd("f_count", b.s64), fd("f_flags", b.u32), fd("f_mode", b.u32), fd("f_pos", b.s64),
		fd("private_data", tPtr(v))})
	ty.add(file)
	fdtable := ty.add(tStruct("fdtable", fd("max_fds", b.u32), fd("fd", tPtr(tPtr(file))), fd("close_on_exec", tPtr(b.u64)),
		fd("open_fds", tPtr(b.u64)), fd("full_fds_bits", tPtr(b.u64))))
	ty.add(tStruct("files_struct", fd("count", b.u32), fd("resize_in_progress", b.u8), fd("resize_wait", tArr(b.u64, 3)),
		fd("fdt", tPtr(fdtable)), fd("fdtab", fdtable)))
	ty.add(tStruct("nsproxy", fd("count", b.u32), fd("uts_ns", tPtr(v)), fd("ipc_ns", tPtr(v)), fd("mnt_ns", tPtr(mntns))))
	ty.add(tStruct("proc_ns_operations", fd("name", tPtr(b.char)), fd("real_ns_name", tPtr(b.char)), fd("type", b.s32)))

	s := &synthVFS{synthTaskKernel: k, nextID: 1}
	s.ns = b.newObj("struct mnt_namespace")
	b.listInit(s.ns + b.off("struct mnt_namespace", "list"))
	// Pseudo-filesystem d_dname functions as text symbols.
	for i, fn := range []string{"pipefs_dname", "sockfs_dname", "anon_inodefs_dname"} {
		b.syms.add(fn, 0xffffffff81000000+uint64(i)*0x100, 0x100, 't')
	}
	return s
}

func (s *synthVFS) str(v string) uint64 {
	a := s.alloc(uint64(len(v)) + 1)
	s.mem.wstr(a, v)
	return a
}

// newSuper makes a super_block of fs type fstype with device dev.
func (s *synthVFS) newSuper(fstype string, dev uint32) uint64 {
	fst := s.newObj("struct file_system_type")
	s.mem.w64(fst+s.off("struct file_system_type", "name"), s.str(fstype))
	sb := s.newObj("struct super_block")
	s.mem.w64(sb+s.off("struct super_block", "s_type"), fst)
	s.mem.w32(sb+s.off("struct super_block", "s_dev"), dev)
	s.mem.wstr(sb+s.off("struct super_block", "s_id"), fstype)
	s.listInit(sb + s.off("struct super_block", "s_mounts"))
	return sb
}

// newInode makes an inode of sb with mode and number.
func (s *synthVFS) newInode(sb uint64, mode uint16, ino uint64) uint64 {
	i := s.newObj("struct inode")
	s.mem.write(i+s.off("struct inode", "i_mode"), []byte{byte(mode), byte(mode >> 8)})
	s.mem.w64(i+s.off("struct inode", "i_sb"), sb)
	s.mem.w64(i+s.off("struct inode", "i_ino"), ino)
	return i
}

// newDentry makes a hashed dentry called name under parent (0: a root,
// its own parent) for inode, linked on the inode's alias list.
func (s *synthVFS) newDentry(parent uint64, name string, inode, sb uint64) uint64 {
	d := s.newObj("struct dentry")
	if parent == 0 {
		parent = d
	}
	s.mem.w64(d+s.off("struct dentry", "d_parent"), parent)
	s.mem.w32(d+s.off("struct dentry", "d_name.len"), uint32(len(name)))
	s.mem.w64(d+s.off("struct dentry", "d_name.name"), s.str(name))
	s.mem.w64(d+s.off("struct dentry", "d_inode"), inode)
	s.mem.w64(d+s.off("struct dentry", "d_sb"), sb)
	if parent != d {
		s.mem.w64(d+s.off("struct dentry", "d_hash.pprev"), 0xffff888000000ff8) // hashed
	}
	if inode != 0 {
		s.hlistAddHead(inode+s.off("struct inode", "i_dentry"), d+s.off("struct dentry", "d_u.d_alias"))
	}
	return d
}

// setDname gives a dentry d_op->d_dname = the function symbol fn.
func (s *synthVFS) setDname(d uint64, fn string) {
	ops := s.newObj("struct dentry_operations")
	sym, _ := s.syms.Lookup(fn)
	s.mem.w64(ops+s.off("struct dentry_operations", "d_dname"), sym.Addr)
	s.mem.w64(d+s.off("struct dentry", "d_op"), ops)
}

// newMount mounts sb's root dentry root on mountpoint of parent (parent 0:
// the namespace root). It returns the struct mount.
func (s *synthVFS) newMount(parent, mountpoint, root, sb uint64, devname string) uint64 {
	m := s.newObj("struct mount")
	if parent == 0 {
		parent, mountpoint = m, root
		s.mem.w64(s.ns+s.off("struct mnt_namespace", "root"), m)
	}
	s.mem.w64(m+s.off("struct mount", "mnt_parent"), parent)
	s.mem.w64(m+s.off("struct mount", "mnt_mountpoint"), mountpoint)
	s.mem.w64(m+s.off("struct mount", "mnt.mnt_root"), root)
	s.mem.w64(m+s.off("struct mount", "mnt.mnt_sb"), sb)
	s.mem.w64(m+s.off("struct mount", "mnt_devname"), s.str(devname))
	s.mem.w64(m+s.off("struct mount", "mnt_ns"), s.ns)
	s.mem.w32(m+s.off("struct mount", "mnt_id"), uint32(s.nextID))
	s.nextID++
	s.listAddTail(s.ns+s.off("struct mnt_namespace", "list"), m+s.off("struct mount", "mnt_list"))
	s.listAddTail(sb+s.off("struct super_block", "s_mounts"), m+s.off("struct mount", "mnt_instance"))
	return m
}

func (s *synthVFS) vfsmnt(m uint64) uint64 { return m + s.off("struct mount", "mnt") }

// newFile opens dentry through mount m.
func (s *synthVFS) newFile(m, dentry uint64) uint64 {
	f := s.newObj("struct file")
	s.mem.w64(f+s.off("struct file", "f_path.mnt"), s.vfsmnt(m))
	s.mem.w64(f+s.off("struct file", "f_path.dentry"), dentry)
	inode, _ := s.program().ReadU64(dentry + s.off("struct dentry", "d_inode"))
	s.mem.w64(f+s.off("struct file", "f_inode"), inode)
	s.mem.w64(f+s.off("struct file", "f_count"), 1)
	return f
}

// setFiles gives task an fd table of maxFds slots: files[fd] = file, with
// open_fds bits set for the fds in open.
func (s *synthVFS) setFiles(task uint64, maxFds int, files map[int]uint64, open []int) {
	fs := s.newObj("struct files_struct")
	fdt := s.newObj("struct fdtable")
	arr := s.alloc(8 * uint64(maxFds))
	bits := s.alloc(8 * uint64((maxFds+63)/64))
	for n, f := range files {
		s.mem.w64(arr+8*uint64(n), f)
	}
	for _, n := range open {
		w := bits + 8*uint64(n/64)
		v, _ := s.program().ReadU64(w)
		s.mem.w64(w, v|1<<(n%64))
	}
	s.mem.w32(fdt+s.off("struct fdtable", "max_fds"), uint32(maxFds))
	s.mem.w64(fdt+s.off("struct fdtable", "fd"), arr)
	s.mem.w64(fdt+s.off("struct fdtable", "open_fds"), bits)
	s.mem.w64(fs+s.off("struct files_struct", "fdt"), fdt)
	s.mem.w64(task+s.off("struct task_struct", "files"), fs)
}
