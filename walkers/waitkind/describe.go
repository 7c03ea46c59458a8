package waitkind

import (
	"context"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// DescribeLock says what a lock is: a member of an inode or superblock
// when it fits there (checked: the inode's i_mapping points at its own
// i_data; the superblock's root dentry points back at it), a global by
// symbol, or just its type and address.
func DescribeLock(p *symbols.Program, addr uint64, typ string) string {
	if typ == "rw_semaphore" {
		if in, ok := inodeOfMember(p, addr, "i_rwsem"); ok {
			d, err := vfs.DescribeInode(p, in)
			if err == nil {
				return "i_rwsem of " + d.String()
			}
		}
		if d, ok := describeMmapLock(p, addr); ok {
			return d
		}
		if sb, ok := superBlockOfMember(p, addr, "s_umount"); ok {
			if o, err := p.Object("struct super_block", sb); err == nil {
				fs, id, _ := vfs.SuperBlockName(p.Value(symbols.PointerTo(o.Type()), sb))
				return fmt.Sprintf("s_umount of superblock %s (%s)", id, fs)
			}
		}
	}
	if typ == "mutex" {
		if file, ok := fileOfMember(p, addr, "f_pos_lock"); ok {
			if path, err := vfs.FilePath(p, file); err == nil {
				return "f_pos_lock of open file " + path + " (read/write/lseek on a shared file, fs/file.c fdget_pos)"
			}
		}
	}
	if d, ok := describeInSlab(p, addr, typ); ok {
		return d
	}
	if p.Syms != nil {
		if s, off, ok := p.Syms.LookupAddr(addr); ok && !s.IsText() && (s.Size == 0 || off < s.Size) {
			name := s.Name
			if off != 0 {
				name += fmt.Sprintf("+%#x", off)
			}
			return fmt.Sprintf("%s %s", typ, name)
		}
	}
	return fmt.Sprintf("%s at %#x", typ, addr)
}

// inodeOfMember returns the inode containing member at addr when it is a
// plausible inode: i_mapping == &i_data (fs/inode.c inode_init_always).
func inodeOfMember(p *symbols.Program, addr uint64, member string) (uint64, bool) {
	in, err := p.ContainerOf(addr, "struct inode", member)
	if err != nil {
		return 0, false
	}
	mapping, err := in.MemberUint("i_mapping")
	if err != nil {
		return 0, false
	}
	data, err := in.Member("i_data")
	if err != nil || mapping != data.Addr() {
		return 0, false
	}
	return in.Addr(), true
}

// superBlockOfMember returns the super_block containing member at addr
// when its root dentry's d_sb points back at it.
func superBlockOfMember(p *symbols.Program, addr uint64, member string) (uint64, bool) {
	sb, err := p.ContainerOf(addr, "struct super_block", member)
	if err != nil {
		return 0, false
	}
	dsb, err := sb.MemberUint("s_root->d_sb")
	if err != nil || dsb != sb.Addr() {
		return 0, false
	}
	return sb.Addr(), true
}

// fileOfMember returns the struct file containing member at addr when it
// is a plausible open file: f_inode is its dentry's inode.
func fileOfMember(p *symbols.Program, addr uint64, member string) (uint64, bool) {
	f, err := p.ContainerOf(addr, "struct file", member)
	if err != nil {
		return 0, false
	}
	in, err := f.MemberUint("f_inode")
	if err != nil || in == 0 {
		return 0, false
	}
	din, err := f.MemberUint("f_path.dentry->d_inode")
	if err != nil || din != in {
		return 0, false
	}
	return f.Addr(), true
}

// describeMmapLock names an mm_struct's mmap_lock (include/linux/
// mm_types.h; mmap_sem before 5.8): page faults, mmap/munmap/mprotect
// and readers of another process's memory (/proc/PID/cmdline, environ,
// mem: mm/memory.c access_remote_vm) take it. The mm is believed when
// its owner task (mm_struct.owner, CONFIG_MEMCG) points back at it, or
// its pgd is a kernel page.
func describeMmapLock(p *symbols.Program, addr uint64) (string, bool) {
	member := "mmap_lock"
	if t, err := p.Type("struct mm_struct"); err != nil {
		return "", false
	} else if !t.HasMember(member) {
		member = "mmap_sem"
	}
	mm, err := p.ContainerOf(addr, "struct mm_struct", member)
	if err != nil {
		return "", false
	}
	if owner, err := mm.MemberUint("owner"); err == nil && owner != 0 {
		if tk, err := p.Object("struct task_struct", owner); err == nil {
			if omm, err := tk.MemberUint("mm"); err == nil && omm == mm.Addr() {
				comm, _ := tk.MemberString("comm")
				tgid, _ := tk.MemberUint("tgid")
				return fmt.Sprintf("%s of the address space (mm_struct %#x) of %s (pid %d)", member, mm.Addr(), comm, int32(tgid)), true
			}
		}
	}
	pgd, err := mm.MemberUint("pgd")
	users, err2 := mm.MemberUint("mm_users.counter")
	if err != nil || err2 != nil || pgd == 0 || pgd%4096 != 0 || pgd>>63 == 0 || int32(users) <= 0 {
		return "", false
	}
	return fmt.Sprintf("%s of the address space mm_struct %#x", member, mm.Addr()), true
}

// describeInSlab names a lock or wait queue that lies in a slab object:
// "wait_queue_head fuse_inode.page_waitq (object 0x... of cache
// fuse_inode)" when the cache's name is a struct's (the dedicated caches:
// KMEM_CACHE(name) names them after the struct) whose member at that
// offset has the lock's type; else its offset in the object.
func describeInSlab(p *symbols.Program, addr uint64, typ string) (string, bool) {
	id, ok := mm.SlabObject(context.Background(), p, addr)
	if !ok {
		return "", false
	}
	for _, name := range cacheStructs(id.Cache) {
		t, err := p.Type("struct " + name)
		if err != nil || t.Size == 0 || t.Size > id.ObjectSize+64 {
			continue
		}
		if path, ok := memberAt(t, id.Offset, typ, 0); ok {
			return fmt.Sprintf("%s %s.%s (object %#x of cache %s)", typ, name, path, id.Object, id.Cache), true
		}
	}
	return fmt.Sprintf("%s at %#x (offset %#x in object %#x of cache %s)", typ, addr, id.Offset, id.Object, id.Cache), true
}

// cacheStructs are the struct names a slab cache's objects may be:
// "task_struct", "mm_struct", "fuse_inode"; "signal_cache" → signal_cache,
// signal, signal_struct, signal_info; "kmalloc-64" none.
func cacheStructs(cache string) []string {
	if strings.HasPrefix(cache, "kmalloc-") || strings.HasPrefix(cache, "dma-kmalloc") {
		return nil
	}
	out := []string{cache}
	if t := strings.TrimSuffix(cache, "_cache"); t != cache {
		out = append(out, t, t+"_struct", t+"_info")
	}
	return out
}

// maxMemberDepth bounds the nesting memberAt follows.
const maxMemberDepth = 6

// memberAt returns the path of the member of t at byte offset off whose
// type is named want ("wait_queue_head", "mutex"), descending into
// embedded structs and unions.
func memberAt(t *symbols.Type, off uint64, want string, depth int) (string, bool) {
	t = t.Resolve()
	if t == nil || depth > maxMemberDepth || (t.Kind != symbols.KindStruct && t.Kind != symbols.KindUnion) {
		return "", false
	}
	for _, m := range t.Members {
		mt := m.Type.Resolve()
		if mt == nil || off < m.Offset || off >= m.Offset+mt.Size {
			continue
		}
		if off == m.Offset && (mt.Name == want || m.Type.Name == want || m.Type.Name == want+"_t") {
			return m.Name, true
		}
		if sub, ok := memberAt(mt, off-m.Offset, want, depth+1); ok {
			if m.Name == "" {
				return sub, true
			}
			return m.Name + "." + sub, true
		}
	}
	return "", false
}
