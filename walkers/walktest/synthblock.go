package walktest

import (
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// SynthBlock builds block-layer objects in a synthetic kernel: disks,
// block devices, superblocks and inodes on them, bios, device-mapper
// devices (types shaped like 6.1's, offsets chosen freely). It adds its
// types to Types; super_block is registered again with s_bdev (a
// superset of LockFixture's), inode too.
type SynthBlock struct {
	Mem   *symtest.Memory
	Types *symtest.Types
	Alloc func(size uint64) uint64
}

// Text addresses of the functions and data the block objects point at
// (SynthBlock.Symbols names them).
const (
	SymDMBlkDops         = 0xffffffffc0a00000
	SymExt4EndBio        = 0xffffffff81300000
	SymIomapDioBioEndIO  = 0xffffffff81300100
	SymSubmitBioWaitEnd  = 0xffffffff81300200
	SymVirtblkFops       = 0xffffffff81300300
	SymBlockdevSuperblck = 0xffffffff82000000
)

// NewSynthBlock adds the block types to types; alloc hands out zeroed
// memory in mem.
func NewSynthBlock(mem *symtest.Memory, types *symtest.Types, alloc func(size uint64) uint64) *SynthBlock {
	s := &SynthBlock{Mem: mem, Types: types, Alloc: alloc}
	ty := types
	u8, u16, u32, i32 := ty.Get("u8"), ty.Get("u16"), ty.Get("u32"), ty.Get("int")
	ulong, u64, char := ty.Get("unsigned long"), ty.Get("u64"), ty.Get("char")
	var lh *symbols.Type
	if t, err := ty.LookupType("struct list_head"); err == nil {
		lh = t
	} else {
		lh = ty.Struct("list_head", 16)
	}
	task := ty.Declare("task_struct")
	disk := ty.Declare("gendisk")
	bdev := ty.Declare("block_device")
	sb := &symbols.Type{Kind: symbols.KindStruct, Name: "super_block"}
	var fst *symbols.Type
	if t, err := ty.LookupType("struct file_system_type"); err == nil {
		fst = t
	}
	symtestLayout(sb, 256, symtest.F("s_list", lh, 0), symtest.F("s_dev", u32, 16), symtest.F("s_type", ty.Ptr(fst), 40),
		symtest.F("s_fs_info", ty.Ptr(nil), 128), symtest.F("s_id", ty.Array(char, 32), 136), symtest.F("s_bdev", ty.Ptr(bdev), 200))
	ty.Add(sb)
	inode := &symbols.Type{Kind: symbols.KindStruct, Name: "inode"}
	symtestLayout(inode, 128, symtest.F("i_mode", u16, 0), symtest.F("i_sb", ty.Ptr(sb), 40), symtest.F("i_ino", ulong, 64))
	ty.Add(inode)
	ty.Struct("request_queue", 64, symtest.F("mq_ops", ty.Ptr(nil), 0))
	ty.Struct("gendisk", 128, symtest.F("major", i32, 0), symtest.F("first_minor", i32, 4), symtest.F("disk_name", ty.Array(char, 32), 8),
		symtest.F("part0", ty.Ptr(bdev), 40), symtest.F("fops", ty.Ptr(nil), 48), symtest.F("queue", ty.Ptr(ty.Get("struct request_queue")), 56),
		symtest.F("private_data", ty.Ptr(nil), 64))
	ty.Struct("block_device", 64, symtest.F("bd_dev", u32, 0), symtest.F("bd_disk", ty.Ptr(disk), 8), symtest.F("bd_partno", u8, 16))
	ty.Struct("bdev_inode", 192, symtest.F("bdev", bdev, 0), symtest.F("vfs_inode", inode, 64))
	ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "req_op", Size: 4,
		Enumerators: []symbols.Enumerator{{Name: "REQ_OP_READ", Value: 0}, {Name: "REQ_OP_WRITE", Value: 1}, {Name: "REQ_OP_FLUSH", Value: 2}}})
	iter := ty.Struct("bvec_iter", 24, symtest.F("bi_sector", u64, 0), symtest.F("bi_size", u32, 8))
	bvec := ty.Struct("bio_vec", 16, symtest.F("bv_page", ty.Ptr(nil), 0), symtest.F("bv_len", u32, 8), symtest.F("bv_offset", u32, 12))
	bio := ty.Declare("bio")
	ty.Struct("bio", 96, symtest.F("bi_next", ty.Ptr(bio), 0), symtest.F("bi_bdev", ty.Ptr(bdev), 8), symtest.F("bi_opf", u32, 16),
		symtest.F("bi_iter", iter, 24), symtest.F("bi_end_io", ty.Ptr(nil), 48), symtest.F("bi_private", ty.Ptr(nil), 56),
		symtest.F("bi_vcnt", u16, 64), symtest.F("bi_io_vec", ty.Ptr(bvec), 72))
	blist := ty.Struct("bio_list", 16, symtest.F("head", ty.Ptr(bio), 0), symtest.F("tail", ty.Ptr(bio), 8))
	mode := ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "dm_queue_mode", Size: 4,
		Enumerators: []symbols.Enumerator{{Name: "DM_TYPE_NONE", Value: 0}, {Name: "DM_TYPE_BIO_BASED", Value: 1}, {Name: "DM_TYPE_REQUEST_BASED", Value: 2}}})
	md := ty.Declare("mapped_device")
	ty.Struct("mapped_device", 128, symtest.F("map", ty.Ptr(nil), 0), symtest.F("flags", ulong, 8), symtest.F("type", mode, 16),
		symtest.F("name", ty.Array(char, 16), 24), symtest.F("disk", ty.Ptr(disk), 40), symtest.F("deferred", blist, 48),
		symtest.F("interface_ptr", ty.Ptr(nil), 64))
	ty.Struct("hash_cell", 48, symtest.F("name", ty.Ptr(char), 16), symtest.F("uuid", ty.Ptr(char), 24), symtest.F("md", ty.Ptr(md), 32))
	tt := ty.Struct("target_type", 32, symtest.F("name", ty.Ptr(char), 8))
	tgt := ty.Struct("dm_target", 48, symtest.F("table", ty.Ptr(nil), 0), symtest.F("type", ty.Ptr(tt), 8), symtest.F("begin", u64, 16),
		symtest.F("len", u64, 24), symtest.F("private", ty.Ptr(nil), 32))
	ty.Struct("dm_table", 64, symtest.F("md", ty.Ptr(md), 0), symtest.F("num_targets", u32, 8), symtest.F("targets", ty.Ptr(tgt), 16))
	dmdev := ty.Struct("dm_dev", 32, symtest.F("bdev", ty.Ptr(bdev), 0), symtest.F("name", ty.Array(char, 16), 16))
	ty.Struct("linear_c", 16, symtest.F("dev", ty.Ptr(dmdev), 0), symtest.F("start", u64, 8))
	file := &symbols.Type{Kind: symbols.KindStruct, Name: "file"}
	if t, err := ty.LookupType("struct file"); err == nil && t.HasMember("f_inode") {
		file = t
	} else {
		symtestLayout(file, 64, symtest.F("f_inode", ty.Ptr(inode), 32))
		ty.Add(file)
	}
	kiocb := ty.Struct("kiocb", 48, symtest.F("ki_filp", ty.Ptr(file), 0))
	submit := &symbols.Type{Kind: symbols.KindStruct, Size: 16, Members: []symbols.Member{symtest.F("iter", ty.Ptr(nil), 0), symtest.F("waiter", ty.Ptr(task), 8)}}
	un := &symbols.Type{Kind: symbols.KindUnion, Size: 32, Members: []symbols.Member{symtest.F("submit", submit, 0)}}
	ty.Struct("iomap_dio", 96, symtest.F("iocb", ty.Ptr(kiocb), 0), symtest.F("size", ty.Get("s64"), 24), symtest.F("", un, 64))
	_ = i32
	return s
}

// symtestLayout fills t as a struct of size with members (a type made
// before its name is registered, so that a type replacing an earlier one
// of the same name is registered whole).
func symtestLayout(t *symbols.Type, size uint64, members ...symbols.Member) {
	t.Size, t.Members = size, members
}

// Symbols are the symbols the block objects point at.
func (s *SynthBlock) Symbols() []symbols.Symbol {
	return []symbols.Symbol{
		{Name: "dm_blk_dops", Addr: SymDMBlkDops, Size: 0x80, Type: 'd'},
		{Name: "virtblk_fops", Addr: SymVirtblkFops, Size: 0x80, Type: 'd'},
		{Name: "ext4_end_bio", Addr: SymExt4EndBio, Size: 0x100, Type: 't'},
		{Name: "iomap_dio_bio_end_io", Addr: SymIomapDioBioEndIO, Size: 0x100, Type: 't'},
		{Name: "submit_bio_wait_endio", Addr: SymSubmitBioWaitEnd, Size: 0x100, Type: 't'},
		{Name: "blockdev_superblock", Addr: SymBlockdevSuperblck, Size: 8, Type: 'd'},
	}
}

func (s *SynthBlock) off(typ, member string) uint64 {
	t := s.Types.Get(typ)
	var off uint64
	for _, name := range splitPath(member) {
		m, ok := t.FindMember(name)
		if !ok {
			panic("synthetic " + typ + " has no " + member)
		}
		off += m.Offset
		t = m.Type
	}
	return off
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

func (s *SynthBlock) str(v string) uint64 {
	a := s.Alloc(uint64(len(v)) + 1)
	s.Mem.WriteString(a, v)
	return a
}

// Disk makes a gendisk named name (its fops the symbol at ops, 0 for
// none) with its whole-disk block device; mq gives it a blk-mq queue.
func (s *SynthBlock) Disk(name string, major, minor int, ops uint64, mq bool) (disk, bdev uint64) {
	disk = s.Alloc(128)
	bdev = s.Alloc(64)
	q := s.Alloc(64)
	if mq {
		s.Mem.WriteU64(q+s.off("request_queue", "mq_ops"), 0xffffffff81400000)
	}
	s.Mem.WriteU32(disk+s.off("gendisk", "major"), uint32(major))
	s.Mem.WriteU32(disk+s.off("gendisk", "first_minor"), uint32(minor))
	s.Mem.WriteString(disk+s.off("gendisk", "disk_name"), name)
	s.Mem.WriteU64(disk+s.off("gendisk", "part0"), bdev)
	s.Mem.WriteU64(disk+s.off("gendisk", "fops"), ops)
	s.Mem.WriteU64(disk+s.off("gendisk", "queue"), q)
	s.Mem.WriteU32(bdev+s.off("block_device", "bd_dev"), uint32(major)<<20|uint32(minor))
	s.Mem.WriteU64(bdev+s.off("block_device", "bd_disk"), disk)
	return disk, bdev
}

// DM makes disk a device-mapper device named name with flags (DMF_*
// bits) and one linear target of sectors over the block device under
// (0: no table). It returns the mapped_device.
func (s *SynthBlock) DM(disk uint64, name string, flags uint64, under, sectors uint64) uint64 {
	md := s.Alloc(128)
	s.Mem.WriteU64(disk+s.off("gendisk", "private_data"), md)
	s.Mem.WriteU64(md+s.off("mapped_device", "flags"), flags)
	s.Mem.WriteU32(md+s.off("mapped_device", "type"), 1)
	s.Mem.WriteString(md+s.off("mapped_device", "name"), "254:0")
	s.Mem.WriteU64(md+s.off("mapped_device", "disk"), disk)
	hc := s.Alloc(48)
	s.Mem.WriteU64(hc+s.off("hash_cell", "name"), s.str(name))
	s.Mem.WriteU64(hc+s.off("hash_cell", "md"), md)
	s.Mem.WriteU64(md+s.off("mapped_device", "interface_ptr"), hc)
	if under != 0 {
		tt := s.Alloc(32)
		s.Mem.WriteU64(tt+s.off("target_type", "name"), s.str("linear"))
		dev := s.Alloc(32)
		s.Mem.WriteU64(dev+s.off("dm_dev", "bdev"), under)
		lc := s.Alloc(16)
		s.Mem.WriteU64(lc+s.off("linear_c", "dev"), dev)
		tgt := s.Alloc(48)
		s.Mem.WriteU64(tgt+s.off("dm_target", "type"), tt)
		s.Mem.WriteU64(tgt+s.off("dm_target", "len"), sectors)
		s.Mem.WriteU64(tgt+s.off("dm_target", "private"), lc)
		tbl := s.Alloc(64)
		s.Mem.WriteU32(tbl+s.off("dm_table", "num_targets"), 1)
		s.Mem.WriteU64(tbl+s.off("dm_table", "targets"), tgt)
		s.Mem.WriteU64(md+s.off("mapped_device", "map"), tbl)
	}
	return md
}

// Bio makes a bio for bdev: op (REQ_OP_*), where, what it ends in and its
// private data, and its pages.
func (s *SynthBlock) Bio(bdev uint64, op uint32, sector uint64, size uint32, endIO, private uint64, pages ...uint64) uint64 {
	b := s.Alloc(96)
	s.Mem.WriteU64(b+s.off("bio", "bi_bdev"), bdev)
	s.Mem.WriteU32(b+s.off("bio", "bi_opf"), op)
	s.Mem.WriteU64(b+s.off("bio", "bi_iter.bi_sector"), sector)
	s.Mem.WriteU32(b+s.off("bio", "bi_iter.bi_size"), size)
	s.Mem.WriteU64(b+s.off("bio", "bi_end_io"), endIO)
	s.Mem.WriteU64(b+s.off("bio", "bi_private"), private)
	if len(pages) > 0 {
		vecs := s.Alloc(16 * uint64(len(pages)))
		for i, pg := range pages {
			s.Mem.WriteU64(vecs+uint64(i)*16, pg)
		}
		s.Mem.Write(b+s.off("bio", "bi_vcnt"), []byte{byte(len(pages)), 0})
		s.Mem.WriteU64(b+s.off("bio", "bi_io_vec"), vecs)
	}
	return b
}

// Defer parks bios on md's deferred list, in order.
func (s *SynthBlock) Defer(md uint64, bios ...uint64) {
	for i, b := range bios {
		next := uint64(0)
		if i+1 < len(bios) {
			next = bios[i+1]
		}
		s.Mem.WriteU64(b+s.off("bio", "bi_next"), next)
	}
	if len(bios) > 0 {
		s.Mem.WriteU64(md+s.off("mapped_device", "deferred.head"), bios[0])
		s.Mem.WriteU64(md+s.off("mapped_device", "deferred.tail"), bios[len(bios)-1])
	}
}

// File makes a superblock on bdev (0: none, like tmpfs) and an inode of
// it; it returns the inode.
func (s *SynthBlock) File(bdev uint64, ino uint64) uint64 {
	sb := s.Alloc(256)
	s.Mem.WriteU64(sb+s.off("super_block", "s_bdev"), bdev)
	in := s.Alloc(128)
	s.Mem.WriteU32(in, 0o100644)
	s.Mem.WriteU64(in+s.off("inode", "i_sb"), sb)
	s.Mem.WriteU64(in+s.off("inode", "i_ino"), ino)
	return in
}

// BlockdevSuper maps blockdev_superblock (at SymBlockdevSuperblck),
// pointing at a new superblock, and returns that superblock.
func (s *SynthBlock) BlockdevSuper() uint64 {
	sb := s.Alloc(256)
	s.Mem.WriteU64(SymBlockdevSuperblck, sb)
	return sb
}

// BdevInode makes a block device's own inode (block/bdev.c struct
// bdev_inode: the block_device, then the inode of the block device
// superblock sb); it returns the embedded block_device and the inode.
func (s *SynthBlock) BdevInode(disk uint64, dev uint32, sb uint64) (bdev, inode uint64) {
	bi := s.Alloc(192)
	bdev = bi + s.off("bdev_inode", "bdev")
	s.Mem.WriteU32(bdev+s.off("block_device", "bd_dev"), dev)
	s.Mem.WriteU64(bdev+s.off("block_device", "bd_disk"), disk)
	inode = bi + s.off("bdev_inode", "vfs_inode")
	s.Mem.WriteU64(inode+s.off("inode", "i_sb"), sb)
	return bdev, inode
}

// DirectIO makes the struct iomap_dio of an O_DIRECT request of task on
// the file whose inode is inode, as __iomap_dio_rw keeps it.
func (s *SynthBlock) DirectIO(task, inode uint64, size uint64) uint64 {
	f := s.Alloc(64)
	s.Mem.WriteU64(f+s.off("file", "f_inode"), inode)
	iocb := s.Alloc(48)
	s.Mem.WriteU64(iocb+s.off("kiocb", "ki_filp"), f)
	dio := s.Alloc(96)
	s.Mem.WriteU64(dio+s.off("iomap_dio", "iocb"), iocb)
	s.Mem.WriteU64(dio+s.off("iomap_dio", "size"), size)
	s.Mem.WriteU64(dio+s.off("iomap_dio", "submit.waiter"), task)
	return dio
}
