package walkers

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// typesFreeFixture is a synthetic kernel with vmlinux types only (super
// block, file, inode) and no FUSE type, as a 5.10 dump without module BTF.
type typesFreeFixture struct {
	*lockFixture
	sbHead uint64
	fops   uint64
	fstype uint64
}

func newTypesFreeFixture(t *testing.T) *typesFreeFixture {
	f := &lockFixture{t: t, mem: symtest.NewMemory(), types: symtest.NewTypes(), next: fixtureBase}
	ty := f.types
	u32, ptr := ty.Get("u32"), ty.Ptr(nil)
	lh := ty.Declare("list_head")
	ty.Struct("list_head", 16, symtest.F("next", ty.Ptr(lh), 0), symtest.F("prev", ty.Ptr(lh), 8))
	fst := ty.Struct("file_system_type", 16, symtest.F("name", ty.Ptr(ty.Get("char")), 0))
	sb := ty.Struct("super_block", 256, symtest.F("s_list", lh, 0), symtest.F("s_dev", u32, 16), symtest.F("s_type", ty.Ptr(fst), 40),
		symtest.F("s_fs_info", ptr, 128), symtest.F("s_id", ty.Array(ty.Get("char"), 32), 136))
	in := ty.Struct("inode", 128, symtest.F("i_mode", ty.Get("u16"), 0), symtest.F("i_sb", ty.Ptr(sb), 40),
		symtest.F("i_mapping", ptr, 48), symtest.F("i_rdev", u32, 56), symtest.F("i_data", ty.Array(ty.Get("char"), 32), 64))
	ty.Struct("file", 128, symtest.F("f_inode", ty.Ptr(in), 32), symtest.F("f_op", ptr, 40), symtest.F("private_data", ptr, 96))
	tf := &typesFreeFixture{lockFixture: f}
	tf.sbHead = f.alloc(16)
	f.list(tf.sbHead)
	tf.fops = f.alloc(256)
	name := f.alloc(16)
	f.mem.WriteString(name, "fuse")
	tf.fstype = f.alloc(16)
	f.mem.WriteU64(tf.fstype, name)
	return tf
}

// superBlock makes a fuse superblock with s_fs_info info and device dev.
func (f *typesFreeFixture) superBlock(dev uint32, info uint64) uint64 {
	sb := f.alloc(256)
	f.mem.WriteU32(sb+16, dev)
	f.mem.WriteU64(sb+40, f.fstype)
	f.mem.WriteU64(sb+128, info)
	f.mem.WriteString(sb+136, "hangfs")
	return sb
}

func (f *typesFreeFixture) program() *symbols.Program {
	return f.prog(symbols.Symbol{Name: "super_blocks", Addr: f.sbHead, Size: 16, Type: 'd'},
		symbols.Symbol{Name: "fuse_dev_operations", Addr: f.fops, Size: 256, Type: 'd'})
}

func TestTypesFreeConns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layout  string // "mount": s_fs_info is a fuse_mount; "conn": the fuse_conn itself; "null"
		wantHow string
	}{
		{"fuse_mount (5.10+)", "mount", howFuseMountFC},
		{"fuse_conn (before 5.10)", "conn", howFuseConnOld},
		{"s_fs_info NULL", "null", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTypesFreeFixture(t)
			fc := f.alloc(512)
			f.mem.WriteU64(fc, 1<<32) // spinlock 0, refcount 1: no pointer
			info := fc
			switch tc.layout {
			case "mount":
				info = f.alloc(40)
				f.mem.WriteU64(info, fc)
			case "null":
				info = 0
			}
			sb := f.superBlock(24, info)
			f.list(f.sbHead, sb)
			conns, errs := typesFreeConns(f.program())
			if tc.wantHow == "" {
				if len(conns) != 0 || len(errs) == 0 {
					t.Fatalf("conns %+v errs %v, want none and an error", conns, errs)
				}
				return
			}
			if len(conns) != 1 {
				t.Fatalf("conns %+v (%v), want 1", conns, errs)
			}
			c := conns[0]
			if c.Addr != fc || c.ID != 24 || c.ConnHow != tc.wantHow || !c.TypesFree || len(c.Mounts) != 1 || c.Mounts[0].SuperBlock != sb ||
				!strings.HasSuffix(c.Remedy, "connections/24/abort") || len(c.Errors) == 0 {
				t.Errorf("conn %+v", c)
			}
		})
	}
}

func TestFuseFileRawConn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fops     bool   // f_op is &fuse_dev_operations
		first    uint64 // the fuse_dev's first word; 0: private_data NULL
		wantFuse bool
		wantConn bool
	}{
		{"5.10 fuse_dev", true, 0xffff888000900000, true, true},
		{"fuse_dev whose first word is no pointer (7.1 refcount)", true, 1, true, false},
		{"not mounted yet", true, 0, true, false},
		{"another file", false, 0xffff888000900000, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTypesFreeFixture(t)
			file := f.alloc(128)
			in := f.alloc(128)
			f.mem.WriteU64(file+32, in)
			if tc.fops {
				f.mem.WriteU64(file+40, f.fops)
			} else {
				f.mem.WriteU64(file+40, f.fops+8)
			}
			fud := uint64(0)
			if tc.first != 0 {
				fud = f.alloc(56)
				f.mem.WriteU64(fud, tc.first)
			}
			f.mem.WriteU64(file+96, fud)
			s := newFuseFileScanner(f.program())
			d, ok, err := s.fuseFile(file)
			if err != nil || ok != tc.wantFuse {
				t.Fatalf("fuse %v err %v, want %v", ok, err, tc.wantFuse)
			}
			if !ok {
				return
			}
			if d.Dev != fud || (d.Conn != 0 && d.Conn == tc.first) != tc.wantConn || (tc.wantConn && !d.RawConn) {
				t.Errorf("dev file %+v, want dev %#x conn %v", d, fud, tc.wantConn)
			}
		})
	}
}
