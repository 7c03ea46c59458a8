package fuse

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// devFuseRdev is the dev_t of /dev/fuse: misc major 10, FUSE_MINOR 229
// (include/linux/miscdevice.h), as the kernel packs it (MKDEV: major<<20 |
// minor, include/linux/kdev_t.h).
const devFuseRdev = 10<<20 | 229

// maxScanFDs bounds the descriptors read from one fd table.
const maxScanFDs = 1 << 16

// FuseDevFile is a /dev/fuse file found in an fd table.
type FuseDevFile struct {
	FD   int
	File uint64
	Dev  uint64 // struct fuse_dev
	Conn uint64 // struct fuse_conn (0 before mount)
	// RawConn: Conn was read as the fuse_dev's first word (no FUSE types,
	// fuseDevConnRaw); it is trusted only when it is a known connection.
	RawConn bool
}

// FuseFileScanner finds /dev/fuse files in fd tables, caching per
// files_struct (threads of a process share one).
type FuseFileScanner struct {
	p       *symbols.Program
	fops    uint64 // &fuse_dev_operations, 0 when the symbol is unknown
	byFiles map[uint64][]FuseDevFile
	errs    map[uint64]error
}

func NewFuseFileScanner(p *symbols.Program) *FuseFileScanner {
	s := &FuseFileScanner{p: p, byFiles: map[uint64][]FuseDevFile{}, errs: map[uint64]error{}}
	s.fops, _ = p.Symbol("fuse_dev_operations")
	return s
}

// Scan returns the /dev/fuse files of the files_struct at files.
func (s *FuseFileScanner) Scan(files uint64) ([]FuseDevFile, error) {
	if files == 0 {
		return nil, nil
	}
	if r, ok := s.byFiles[files]; ok {
		return r, s.errs[files]
	}
	r, err := s.scanFiles(files)
	s.byFiles[files], s.errs[files] = r, err
	return r, err
}

func (s *FuseFileScanner) scanFiles(files uint64) ([]FuseDevFile, error) {
	p := s.p
	fs, err := p.Object("struct files_struct", files)
	if err != nil {
		return nil, err
	}
	fdt, err := fs.Member("fdt")
	if err != nil {
		return nil, err
	}
	maxFDs, err := fdt.MemberUint("max_fds")
	if err != nil {
		return nil, fmt.Errorf("files_struct %#x: %w", files, err)
	}
	arr, err := fdt.MemberUint("fd")
	if err != nil {
		return nil, fmt.Errorf("files_struct %#x: %w", files, err)
	}
	if maxFDs > maxScanFDs {
		maxFDs = maxScanFDs
	}
	buf := make([]byte, maxFDs*8)
	if err := p.Mem.ReadVirt(buf, arr); err != nil {
		return nil, fmt.Errorf("files_struct %#x: fd array %#x: %w", files, arr, err)
	}
	var out []FuseDevFile
	var firstErr error
	for i := 0; i < int(maxFDs); i++ {
		f := binary.LittleEndian.Uint64(buf[i*8:])
		if f == 0 {
			continue
		}
		d, ok, err := s.FuseFile(f)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("files_struct %#x fd %d: %w", files, i, err)
			}
			continue
		}
		if ok {
			d.FD = i
			out = append(out, d)
		}
	}
	return out, firstErr
}

// FuseFile tells whether the struct file at f is an opened /dev/fuse:
// f_op == &fuse_dev_operations (fs/fuse/dev.c), or, without that symbol,
// its inode is the character device 10:229. private_data is the struct
// fuse_dev *, with bit 0 possibly set as FUSE_DEV_SYNC_INIT (6.18+,
// fs/fuse/fuse_dev_i.h), masked off here.
func (s *FuseFileScanner) FuseFile(f uint64) (FuseDevFile, bool, error) {
	p := s.p
	file, err := p.Object("struct file", f)
	if err != nil {
		return FuseDevFile{}, false, err
	}
	isFuse := false
	if s.fops != 0 {
		op, err := file.MemberUint("f_op")
		if err != nil {
			return FuseDevFile{}, false, err
		}
		isFuse = op == s.fops
	} else {
		rdev, err := file.MemberUint("f_inode->i_rdev")
		if err != nil {
			return FuseDevFile{}, false, err
		}
		mode, _ := file.MemberUint("f_inode->i_mode")
		isFuse = rdev == devFuseRdev && mode&vfs.SIFMT == 0o020000
	}
	if !isFuse {
		return FuseDevFile{}, false, nil
	}
	d := FuseDevFile{File: f}
	priv, err := file.MemberUint("private_data")
	if err != nil {
		return d, true, nil
	}
	d.Dev = priv &^ 1
	if d.Dev != 0 {
		if fud, err := p.Object("struct fuse_dev", d.Dev); err == nil {
			d.Conn, _ = fuseDevConn(fud)
		} else if _, terr := p.Type("struct fuse_dev"); terr != nil {
			d.Conn, d.RawConn = fuseDevConnRaw(p, d.Dev), true
		}
	}
	return d, true, nil
}

// ClosingFiles looks on a task's stack for the files_struct an exiting
// task is putting (do_exit → exit_files sets task->files = NULL before
// put_files_struct closes its files, kernel/exit.c, fs/file.c): a stack
// word pointing at a files_struct whose fdt points at its own embedded
// fdtab or at a readable fdtable whose fd array is readable. It returns
// the first candidate, or 0.
func ClosingFiles(p *symbols.Program, stack []byte, base uint64) uint64 {
	fdtabOff, err := p.OffsetOf("struct files_struct", "fdtab")
	if err != nil {
		return 0
	}
	fdtOff, err := p.OffsetOf("struct files_struct", "fdt")
	if err != nil {
		return 0
	}
	seen := map[uint64]bool{}
	for i := 0; i+8 <= len(stack); i += 8 {
		v := binary.LittleEndian.Uint64(stack[i:])
		if !kmem.IsKernelPointer(v) || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		fdt, err := p.ReadU64(v + fdtOff)
		if err != nil || fdt != v+fdtabOff {
			continue
		}
		return v
	}
	return 0
}

// FuseSBFile is an open file on a FUSE superblock.
type FuseSBFile struct {
	FD int
	SB uint64
}

// FilesOnSuperBlocks returns the descriptors of the files_struct at files
// whose inode lies on one of the superblocks in sbs (file->f_inode->i_sb).
func FilesOnSuperBlocks(p *symbols.Program, files uint64, sbs map[uint64]bool) []FuseSBFile {
	fs, err := p.Object("struct files_struct", files)
	if err != nil {
		return nil
	}
	maxFDs, err1 := fs.MemberUint("fdt->max_fds")
	arr, err2 := fs.MemberUint("fdt->fd")
	if err1 != nil || err2 != nil {
		return nil
	}
	if maxFDs > maxScanFDs {
		maxFDs = maxScanFDs
	}
	buf := make([]byte, maxFDs*8)
	if err := p.Mem.ReadVirt(buf, arr); err != nil {
		return nil
	}
	var out []FuseSBFile
	for i := 0; i < int(maxFDs); i++ {
		f := binary.LittleEndian.Uint64(buf[i*8:])
		if f == 0 {
			continue
		}
		file, err := p.Object("struct file", f)
		if err != nil {
			continue
		}
		sb, err := file.MemberUint("f_inode->i_sb")
		if err == nil && sbs[sb] {
			out = append(out, FuseSBFile{FD: i, SB: sb})
		}
	}
	return out
}
