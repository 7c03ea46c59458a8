package locking

import (
	"fmt"
	"math/bits"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// pageWaitTableBits is PAGE_WAIT_TABLE_BITS (mm/filemap.c, 8 in 5.10
// through 7.1): the hashed page/folio wait table has 256 wait queue heads.
const pageWaitTableBits = 8

// FolioWait is one task waiting on a page/folio bit (lock or writeback).
type FolioWait struct {
	// Folio is the struct folio (6.x) or struct page (5.x) address.
	Folio uint64 `json:"folio"`
	// Bit is the page flag waited for, by name when the enum pageflags is
	// known (PG_locked, PG_writeback), BitNr its number.
	Bit   string        `json:"bit"`
	BitNr int           `json:"bit_nr"`
	Task  sched.TaskRef `json:"task"`
	// Waiter is the struct wait_page_queue (on the waiting task's stack).
	Waiter uint64 `json:"waiter"`
	// File is where the folio belongs (nil for anonymous memory).
	File  *FolioFile `json:"file,omitempty"`
	Error string     `json:"error,omitempty"`
}

// FolioFile names the file a page-cache folio belongs to.
type FolioFile struct {
	Mapping uint64 `json:"mapping"`
	Inode   uint64 `json:"inode"`
	Ino     uint64 `json:"ino"`
	// Fs is the file system type name and Dev the superblock's s_id.
	Fs  string `json:"fs"`
	Dev string `json:"dev"`
	// Path is the inode's path when it can be found, else empty.
	Path string `json:"path,omitempty"`
	// Offset is the byte offset of the folio in the file (index << PAGE_SHIFT).
	Offset uint64 `json:"offset"`
}

// FolioWaits lists every waiter in the hashed folio wait table
// (folio_wait_table in 6.x, page_wait_table in 5.x; mm/filemap.c), with
// the folio and the file behind it.
func FolioWaits(p *symbols.Program) ([]FolioWait, error) {
	var table uint64
	var err error
	for _, name := range []string{"folio_wait_table", "page_wait_table"} {
		if table, err = p.Symbol(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("page wait table: %w", err)
	}
	size, err := p.SizeOf("struct wait_queue_head")
	if err != nil {
		return nil, err
	}
	var out []FolioWait
	var firstErr error
	for i := uint64(0); i < 1<<pageWaitTableBits; i++ {
		q, err := WaitQueue(p, table+i*size)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("page wait table[%d]: %w", i, err)
			}
			continue
		}
		if q.Error != "" && firstErr == nil {
			firstErr = fmt.Errorf("page wait table[%d]: %s", i, q.Error)
		}
		for _, w := range q.Waiters {
			out = append(out, FolioWaitFrom(p, w))
		}
	}
	return out, firstErr
}

func FolioWaitFrom(p *symbols.Program, w LockWaiter) FolioWait {
	fw := FolioWait{Folio: w.Folio, BitNr: w.BitNr, Task: w.Task, Waiter: w.Waiter, Error: w.Error}
	fw.Bit = pageFlagName(p, w.BitNr)
	if w.Folio != 0 {
		f, err := folioFile(p, w.Folio)
		if err != nil && fw.Error == "" {
			fw.Error = err.Error()
		}
		fw.File = f
	}
	return fw
}

// pageFlagName names bit nr of enum pageflags (include/linux/page-flags.h).
func pageFlagName(p *symbols.Program, nr int) string {
	if t, err := p.Type("enum pageflags"); err == nil {
		if r := t.Resolve(); r != nil {
			for _, e := range r.Enumerators {
				if e.Value == int64(nr) {
					return e.Name
				}
			}
		}
	}
	return fmt.Sprintf("bit %d", nr)
}

// folioFile finds the file of a page-cache folio: mapping (low bits clear:
// PAGE_MAPPING_ANON = 1, include/linux/page-flags.h) → host inode.
func folioFile(p *symbols.Program, folio uint64) (*FolioFile, error) {
	typ := "struct folio"
	if _, err := p.Type(typ); err != nil {
		typ = "struct page"
	}
	f, err := p.Object(typ, folio)
	if err != nil {
		return nil, err
	}
	mapping, err := f.MemberUint("mapping")
	if err != nil {
		return nil, err
	}
	if mapping == 0 || mapping&3 != 0 {
		return nil, nil // anonymous or movable: no file
	}
	index, err := f.MemberUint("index")
	if err != nil {
		return nil, err
	}
	m, err := p.Object("struct address_space", mapping)
	if err != nil {
		return nil, err
	}
	host, err := m.MemberUint("host")
	if err != nil {
		return nil, err
	}
	out := &FolioFile{Mapping: mapping, Inode: host, Offset: index << pageShift(p)}
	if host != 0 {
		desc, err := vfs.DescribeInode(p, host)
		out.Ino, out.Fs, out.Dev, out.Path = desc.Ino, desc.Fs, desc.Dev, desc.Path
		return out, err
	}
	return out, nil
}

// pageShift returns log2 of the kernel's page size (PAGE_SHIFT: 12 on
// x86_64, 12, 14 or 16 on arm64), which turns a folio's index into its
// byte offset.
func pageShift(p *symbols.Program) uint { return uint(bits.TrailingZeros64(p.PageSize())) }

// wakePageFunction is the wake function of a folio (page) waiter's
// wait_queue_entry (mm/filemap.c, static).
const wakePageFunction = "wake_page_function"

// WaitFolio is TaskWait.Kind of a wait on a folio bit.
const WaitFolio = "folio"

// FolioWaitKind is the wait kind of a task waiting for a folio (page) bit:
// PG_locked (__folio_lock, folio_wait_bit_common; 5.10
// wait_on_page_bit_common) or PG_writeback (folio_wait_writeback),
// mm/filemap.c. The waiter is a struct wait_page_queue on the task's stack
// whose entry (wake_page_function) sits in the hashed folio wait table. A
// locked folio's holder is not recorded: for reads, the pending I/O
// unlocks it.
var FolioWaitKind = &waitkind.Kind{
	Name:     WaitFolio,
	Verb:     "waits for",
	Waiter:   &waitQueueEntry,
	WakeFunc: wakePageFunction,
	NoOwner:  true,
	Decode:   decodeFolioWait,
}

func decodeFolioWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	p := c.Prog()
	e := WaitEntry(p, f.Waiter)
	if e.Folio == 0 {
		return waitkind.TaskWait{}, false
	}
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitFolio, How: "wait_page_queue on the task's stack, linked into the folio wait table", Certain: true}
	fw := FolioWaitFrom(p, e)
	what := fmt.Sprintf("%s of folio %#x", fw.Bit, e.Folio)
	if fw.File != nil {
		loc := fw.File.Path
		if loc == "" {
			loc = fmt.Sprintf("inode %d on %s", fw.File.Ino, fw.File.Dev)
		}
		what += fmt.Sprintf(" (%s offset %d, %s)", loc, fw.File.Offset, fw.File.Fs)
	}
	w.Object = waitkind.WaitObject{Type: "folio", Addr: e.Folio, What: what, Folio: folioRef(fw)}
	w.Note = "a locked folio is released when its I/O completes; the I/O's owner is not recorded"
	return w, true
}

// folioRef summarises a folio wait for WaitObject.Folio: what a kind that
// performs I/O needs to say it holds the folio.
func folioRef(fw FolioWait) *waitkind.FolioRef {
	r := &waitkind.FolioRef{Folio: fw.Folio, Bit: fw.Bit}
	if fw.File != nil {
		r.Inode, r.Offset = fw.File.Inode, fw.File.Offset
	}
	return r
}
