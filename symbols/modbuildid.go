package symbols

import (
	"fmt"

	"github.com/kwalk/kwalk/debuginfod"
)

// maxModuleNotes bounds the notes_attrs entries read (a module has a few
// note sections) and maxNoteSection the bytes of one section.
const (
	maxModuleNotes = 32
	maxNoteSection = 4096
)

// ModuleBuildID returns the GNU build-id (hex) of the loaded module whose
// struct module is at addr. It reads the notes the kernel keeps for
// /sys/module/NAME/notes (kernel/module/sysfs.c add_notes_attrs, before
// 6.4 kernel/module.c): module.notes_attrs points at a struct
// module_notes_attrs whose attrs[] are bin_attributes, one per SHT_NOTE
// section, with the section's name in attr.name, its address in the
// module's memory in private and its length in size. The entries are
// counted by notes (≤ 6.x) or, where the struct begins with an
// attribute_group instead (newer kernels), end at the first without a
// name.
func ModuleBuildID(p *Program, addr uint64) (string, error) {
	mo, err := p.Object("struct module", addr)
	if err != nil {
		return "", err
	}
	if !mo.Type().HasMember("notes_attrs") {
		return "", fmt.Errorf("module %#x: struct module has no notes_attrs (a kernel without CONFIG_SYSFS or CONFIG_KALLSYMS)", addr)
	}
	na, err := mo.MemberUint("notes_attrs")
	if err != nil || na == 0 {
		return "", fmt.Errorf("module %#x: no notes_attrs: %v", addr, errOrNULL(err))
	}
	nt, err := p.Type("struct module_notes_attrs")
	if err != nil {
		return "", err
	}
	attrsOff, err := p.OffsetOf("struct module_notes_attrs", "attrs")
	if err != nil {
		return "", err
	}
	ba, err := p.Type("struct bin_attribute")
	if err != nil {
		return "", err
	}
	size := ba.Resolve().Size
	nameOff, err1 := p.OffsetOf("struct bin_attribute", "attr.name")
	sizeOff, err2 := p.OffsetOf("struct bin_attribute", "size")
	privOff, err3 := p.OffsetOf("struct bin_attribute", "private")
	if err1 != nil || err2 != nil || err3 != nil || size == 0 {
		return "", fmt.Errorf("struct bin_attribute: attr.name, size or private missing")
	}
	n := maxModuleNotes
	if nt.HasMember("notes") {
		no, err := p.Object("struct module_notes_attrs", na)
		if err != nil {
			return "", err
		}
		if v, err := no.MemberUint("notes"); err == nil && v < maxModuleNotes {
			n = int(v)
		}
	}
	for i := 0; i < n; i++ {
		a := na + attrsOff + uint64(i)*size
		np, err := p.ReadU64(a + nameOff)
		if err != nil || np == 0 {
			break
		}
		name, err := p.ReadString(np, 64)
		if err != nil || name != ".note.gnu.build-id" {
			continue
		}
		sec, err1 := p.ReadU64(a + privOff)
		sz, err2 := p.ReadU64(a + sizeOff)
		if err1 != nil || err2 != nil || sz == 0 || sz > maxNoteSection {
			return "", fmt.Errorf("module %#x: .note.gnu.build-id at %#x, %d bytes: unreadable", addr, sec, sz)
		}
		b := make([]byte, sz)
		if err := p.Mem.ReadVirt(b, sec); err != nil {
			return "", fmt.Errorf("module %#x: .note.gnu.build-id: %w", addr, err)
		}
		if id, ok := debuginfod.NotesBuildID(b); ok {
			return id, nil
		}
		return "", fmt.Errorf("module %#x: .note.gnu.build-id at %#x holds no GNU build-id note", addr, sec)
	}
	return "", fmt.Errorf("module %#x: no .note.gnu.build-id among its notes", addr)
}

func errOrNULL(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("NULL")
}
