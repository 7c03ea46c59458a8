package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// typesFreeFixture is a synthetic kernel with vmlinux types only (super
// block, file, inode) and no FUSE type, as a 5.10 dump without module BTF.
type typesFreeFixture struct {
	*walktest.LockFixture
	sbHead uint64
	fops   uint64
	fstype uint64
}

func newTypesFreeFixture(t *testing.T) *typesFreeFixture {
	f := &walktest.LockFixture{T: t, Mem: symtest.NewMemory(), Types: symtest.NewTypes(), Next: walktest.FixtureBase}
	ty := f.Types
	u32, ptr := ty.Get("u32"), ty.Ptr(nil)
	lh := ty.Declare("list_head")
	ty.Struct("list_head", 16, symtest.F("next", ty.Ptr(lh), 0), symtest.F("prev", ty.Ptr(lh), 8))
	fst := ty.Struct("file_system_type", 16, symtest.F("name", ty.Ptr(ty.Get("char")), 0))
	sb := ty.Struct("super_block", 256, symtest.F("s_list", lh, 0), symtest.F("s_dev", u32, 16), symtest.F("s_type", ty.Ptr(fst), 40),
		symtest.F("s_fs_info", ptr, 128), symtest.F("s_id", ty.Array(ty.Get("char"), 32), 136))
	in := ty.Struct("inode", 128, symtest.F("i_mode", ty.Get("u16"), 0), symtest.F("i_sb", ty.Ptr(sb), 40),
		symtest.F("i_mapping", ptr, 48), symtest.F("i_rdev", u32, 56), symtest.F("i_data", ty.Array(ty.Get("char"), 32), 64))
	ty.Struct("file", 128, symtest.F("f_inode", ty.Ptr(in), 32), symtest.F("f_op", ptr, 40), symtest.F("private_data", ptr, 96))
	tf := &typesFreeFixture{LockFixture: f}
	tf.sbHead = f.Alloc(16)
	f.List(tf.sbHead)
	tf.fops = f.Alloc(256)
	name := f.Alloc(16)
	f.Mem.WriteString(name, "fuse")
	tf.fstype = f.Alloc(16)
	f.Mem.WriteU64(tf.fstype, name)
	return tf
}

// superBlock makes a fuse superblock with s_fs_info info and device dev.
func (f *typesFreeFixture) superBlock(dev uint32, info uint64) uint64 {
	sb := f.Alloc(256)
	f.Mem.WriteU32(sb+16, dev)
	f.Mem.WriteU64(sb+40, f.fstype)
	f.Mem.WriteU64(sb+128, info)
	f.Mem.WriteString(sb+136, "hangfs")
	return sb
}

func (f *typesFreeFixture) program() *symbols.Program {
	return f.Prog(symbols.Symbol{Name: "super_blocks", Addr: f.sbHead, Size: 16, Type: 'd'},
		symbols.Symbol{Name: "fuse_dev_operations", Addr: f.fops, Size: 256, Type: 'd'})
}

func TestTypesFreeConns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layout  string // "mount": s_fs_info is a fuse_mount; "conn": the fuse_conn itself; "null"
		wantHow string
	}{
		{"fuse_mount (5.10+)", "mount", fuse.HowFuseMountFC},
		{"fuse_conn (before 5.10)", "conn", fuse.HowFuseConnOld},
		{"s_fs_info NULL", "null", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTypesFreeFixture(t)
			fc := f.Alloc(512)
			f.Mem.WriteU64(fc, 1<<32) // spinlock 0, refcount 1: no pointer
			info := fc
			switch tc.layout {
			case "mount":
				info = f.Alloc(40)
				f.Mem.WriteU64(info, fc)
			case "null":
				info = 0
			}
			sb := f.superBlock(24, info)
			f.List(f.sbHead, sb)
			conns, errs := fuse.TypesFreeConns(f.program())
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
			file := f.Alloc(128)
			in := f.Alloc(128)
			f.Mem.WriteU64(file+32, in)
			if tc.fops {
				f.Mem.WriteU64(file+40, f.fops)
			} else {
				f.Mem.WriteU64(file+40, f.fops+8)
			}
			fud := uint64(0)
			if tc.first != 0 {
				fud = f.Alloc(56)
				f.Mem.WriteU64(fud, tc.first)
			}
			f.Mem.WriteU64(file+96, fud)
			s := fuse.NewFuseFileScanner(f.program())
			d, ok, err := s.FuseFile(file)
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

// TestWaiterFuseConn: the connection of an undecodable FUSE wait comes from
// a struct file or inode of a FUSE superblock on the waiter's stack, else
// from its open files when they are on one connection only.
func TestWaiterFuseConn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stackFile string // "A", "B" or "": a struct file of that mount on the stack
		stackIno  string // an inode of that mount on the stack
		open      string // mounts of the open files, e.g. "AB"
		want      string // the connection named, "" for none
		wantCands string
		wantHow   string
	}{
		{"file on stack", "A", "", "A", "A", "A", "a struct file of a FUSE superblock on its stack"},
		{"inode on stack, files on two", "", "B", "AB", "B", "AB", "an inode of a FUSE superblock on its stack"},
		{"open files on one connection", "", "", "A", "A", "A", "its open files"},
		{"open files on two connections", "", "", "AB", "", "AB", ""},
		{"stack names two, files one", "A", "B", "B", "B", "AB", "its open files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTypesFreeFixture(t)
			ty := f.Types
			u32, ptr := ty.Get("u32"), ty.Ptr(nil)
			fdt := ty.Struct("fdtable", 16, symtest.F("max_fds", u32, 0), symtest.F("fd", ptr, 8))
			fst := ty.Struct("files_struct", 64, symtest.F("fdt", ty.Ptr(fdt), 0))
			ty.Struct("task_struct", 512, symtest.F("stack", ptr, 32), symtest.F("flags", u32, 44),
				symtest.F("pid", ty.Get("int"), 100), symtest.F("files", ty.Ptr(fst), 120))
			ids := map[byte]uint32{'A': 23, 'B': 24}
			sbs := map[byte]uint64{}
			var nodes []uint64
			for _, m := range []byte("AB") {
				fc := f.Alloc(512)
				f.Mem.WriteU64(fc, 1<<32)
				fm := f.Alloc(40)
				f.Mem.WriteU64(fm, fc)
				sbs[m] = f.superBlock(ids[m], fm)
				nodes = append(nodes, sbs[m])
			}
			f.List(f.sbHead, nodes...)
			inode := func(m byte) uint64 {
				in := f.Alloc(128)
				f.Mem.WriteU64(in+40, sbs[m])
				f.Mem.WriteU64(in+48, in+64) // i_mapping = &i_data
				return in
			}
			file := func(m byte) uint64 {
				fl := f.Alloc(128)
				f.Mem.WriteU64(fl+32, inode(m))
				return fl
			}
			task := f.Alloc(512)
			stack := f.Alloc(threadSize)
			f.Mem.WriteU64(task+32, stack)
			slot := stack + 0x100
			if tc.stackFile != "" {
				f.Mem.WriteU64(slot, file(tc.stackFile[0]))
				slot += 8
			}
			if tc.stackIno != "" {
				f.Mem.WriteU64(slot, inode(tc.stackIno[0]))
			}
			files, table, arr := f.Alloc(64), f.Alloc(16), f.Alloc(64)
			f.Mem.WriteU64(files, table)
			f.Mem.WriteU32(table, 8)
			f.Mem.WriteU64(table+8, arr)
			for i := range tc.open {
				f.Mem.WriteU64(arr+uint64(8*(i+3)), file(tc.open[i]))
			}
			f.Mem.WriteU64(task+120, files)
			p := f.program()
			tobj, err := p.Object("struct task_struct", task)
			if err != nil {
				t.Fatal(err)
			}
			tk := &sched.Task{Obj: tobj, Addr: task, PID: 7, TGID: 7, State: "D"}
			a := &waitAnalysis{p: p, byAddr: map[uint64]*sched.Task{task: tk}, traces: map[uint64]*unwind.Trace{task: nil},
				stacks: map[uint64][]byte{}, connBy: map[uint64]*fuse.FuseConn{}, servers: map[uint64][]fuse.FuseServer{}}
			a.conns, _ = fuse.TypesFreeConns(p)
			conn, how, certain, cands := a.waiterFuseConn(tk)
			got := ""
			if conn != nil {
				got = map[uint32]string{23: "A", 24: "B"}[conn.ID]
			}
			var gotCands string
			for _, c := range cands {
				gotCands += map[uint32]string{23: "A", 24: "B"}[c]
			}
			if got != tc.want || gotCands != tc.wantCands || !strings.HasPrefix(how, tc.wantHow) || certain {
				t.Errorf("conn %q how %q certain %v cands %q; want %q %q (not certain) %q", got, how, certain, gotCands, tc.want, tc.wantHow, tc.wantCands)
			}
		})
	}
}
