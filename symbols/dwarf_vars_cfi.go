package symbols

import (
	"encoding/binary"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// cfiTable is vmlinux's .debug_frame, parsed on first use.
type cfiTable struct {
	raw  []byte
	once sync.Once
	fdes frame.FrameDescriptionEntries
}

func newCFITable(raw []byte) *cfiTable { return &cfiTable{raw: raw} }

// x86_64 DWARF numbers of the callee-saved registers (System V psABI
// figure 3.36): rbx 3, rbp 6, r12–r15 12–15.
var dwarfCalleeSaved = []int{3, 6, 12, 13, 14, 15}

// CalleeSavedAt implements FrameVarLocator from .debug_frame.
func (d *DWARFTypes) CalleeSavedAt(addr uint64) (saved map[int]int64, same map[int]bool, ok bool) {
	secs, err := d.varSections()
	if err != nil || secs.cfi == nil || len(secs.cfi.raw) == 0 {
		return nil, nil, false
	}
	d.mu.Lock()
	kaslr := d.kaslr
	d.mu.Unlock()
	return secs.cfi.calleeSaved(addr - kaslr)
}

func (c *cfiTable) calleeSaved(pc uint64) (saved map[int]int64, same map[int]bool, ok bool) {
	c.once.Do(func() {
		// A malformed table must not take the process down.
		defer func() { _ = recover() }()
		fdes, err := frame.Parse(c.raw, binary.LittleEndian, 0, 8, 0)
		if err == nil {
			// Parse keeps file order; the lookup needs address order
			// (vmlinux's .debug_frame follows the link order of units,
			// not of the text sections they put code in).
			c.fdes = frame.FrameDescriptionEntries(nil).Append(fdes)
		}
	})
	fde, err := c.fdes.FDEForPC(pc)
	if err != nil {
		return nil, nil, false
	}
	var fc *frame.FrameContext
	func() {
		defer func() {
			if recover() != nil {
				fc = nil
			}
		}()
		fc, err = fde.EstablishFrame(pc)
	}()
	if err != nil || fc == nil {
		return nil, nil, false
	}
	saved, same = map[int]int64{}, map[int]bool{}
	for _, r := range dwarfCalleeSaved {
		rule, has := fc.Regs[uint64(r)]
		switch {
		case !has || rule.Rule == frame.RuleSameVal:
			same[r] = true
		case rule.Rule == frame.RuleOffset:
			saved[r] = rule.Offset
		}
	}
	return saved, same, true
}
