package symbols

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// Module BTF in a dump. The module's own copy (mod->btf_data) is freed after
// module init (kernel/module/main.c), but the parsed copy survives:
// kernel/bpf/btf.c keeps `static LIST_HEAD(btf_modules)` of
//
//	struct btf_module {
//		struct list_head list;
//		struct module *module;
//		struct btf *btf;
//		struct bin_attribute *sys_file;
//		int flags;
//	};
//
// under CONFIG_DEBUG_INFO_BTF_MODULES, and struct btf holds the raw blob in
// data/data_size (a kvmalloc copy) and, since split BTF, the module name in
// name[MODULE_NAME_LEN]. The struct btf layout changes between releases,
// so its member offsets are read from the vmlinux BTF; struct btf_module
// is often absent from BTF, and then the layout above is used.

// maxModuleList bounds the walk of btf_modules.
const maxModuleList = 65536

// maxModuleBTFSize bounds one module's blob (the largest in-tree modules
// carry a few hundred KiB), maxModuleBTFTotal all of them together.
const (
	maxModuleBTFSize  = 64 << 20
	maxModuleBTFTotal = 512 << 20
)

// btfModuleLayout holds the offsets the walk needs.
type btfModuleLayout struct {
	listOff, moduleOff, btfOff uint64 // in struct btf_module
	dataOff, dataSizeOff       uint64 // in struct btf
	dataSizeLen                uint64 // size of btf.data_size (u32)
	nameOff, nameLen           uint64 // btf.name; nameLen 0 when absent
	modNameOff, modNameLen     uint64 // module.name; 0 when unknown
}

// btfModuleLayoutLocked derives the layout from vmlinux BTF.
func (b *BTFTypes) btfModuleLayoutLocked() (btfModuleLayout, error) {
	// The known layout of struct btf_module (kernel/bpf/btf.c, identical in
	// 6.1, 6.12 and 6.19): list at 0, module at 16, btf at 24.
	l := btfModuleLayout{listOff: 0, moduleOff: 16, btfOff: 24}
	if bm, ok := b.vmlinuxStructLocked("btf_module"); ok {
		for _, f := range []struct {
			name string
			dst  *uint64
		}{{"list", &l.listOff}, {"module", &l.moduleOff}, {"btf", &l.btfOff}} {
			m, ok := bm.FindMember(f.name)
			if !ok {
				return l, fmt.Errorf("%w: struct btf_module.%s", ErrNoMember, f.name)
			}
			*f.dst = m.Offset
		}
	}
	bt, ok := b.vmlinuxStructLocked("btf")
	if !ok {
		return l, fmt.Errorf("%w: struct btf in vmlinux BTF", ErrNoType)
	}
	// Split BTF (base_btf, start_id) arrived with module BTF; without it
	// this kernel has no module BTF to find (5.10).
	if !bt.HasMember("base_btf") {
		return l, errNoModuleBTF
	}
	data, ok1 := bt.FindMember("data")
	size, ok2 := bt.FindMember("data_size")
	if !ok1 || !ok2 {
		return l, fmt.Errorf("%w: struct btf.data / data_size", ErrNoMember)
	}
	l.dataOff, l.dataSizeOff = data.Offset, size.Offset
	l.dataSizeLen = size.Type.Resolve().Size
	if l.dataSizeLen != 4 && l.dataSizeLen != 8 {
		return l, fmt.Errorf("struct btf.data_size has size %d", l.dataSizeLen)
	}
	if n, ok := bt.FindMember("name"); ok && n.Type.Resolve().Kind == KindArray {
		l.nameOff, l.nameLen = n.Offset, n.Type.Resolve().Size
	}
	if mod, ok := b.vmlinuxStructLocked("module"); ok {
		if n, ok := mod.FindMember("name"); ok && n.Type.Resolve().Kind == KindArray {
			l.modNameOff, l.modNameLen = n.Offset, n.Type.Resolve().Size
		}
	}
	return l, nil
}

var errNoModuleBTF = errors.New("this kernel has no module BTF (struct btf has no base_btf: split BTF arrived after 5.10)")

// readModuleBTF walks btf_modules and reads every module's blob. Modules
// that cannot be read are reported as warnings and skipped; only an
// unusable list head is an error.
func readModuleBTF(b *BTFTypes, mem kcore.Memory, syms SymbolTable) ([]ModuleBTF, error) {
	l, err := b.btfModuleLayoutLocked()
	if errors.Is(err, errNoModuleBTF) {
		b.noModuleBTF = true
		b.warnings = append(b.warnings, "BTF: "+err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("btf_modules layout: %w", err)
	}
	head, err := syms.Lookup("btf_modules")
	if err != nil {
		b.warnings = append(b.warnings, fmt.Sprintf("BTF: no btf_modules symbol (needs CONFIG_DEBUG_INFO_BTF_MODULES and KALLSYMS_ALL): module types unavailable: %v", err))
		return nil, nil
	}
	var mods []ModuleBTF
	var total uint64
	seen := map[uint64]bool{head.Addr: true}
	cur, err := btfReadU64(mem, head.Addr)
	if err != nil {
		return nil, fmt.Errorf("btf_modules list head at %#x: %w", head.Addr, err)
	}
	for n := 0; cur != head.Addr; n++ {
		if n >= maxModuleList {
			return mods, fmt.Errorf("btf_modules: more than %d entries, giving up", maxModuleList)
		}
		if seen[cur] {
			return mods, fmt.Errorf("btf_modules: cycle at entry %#x", cur)
		}
		seen[cur] = true
		entry := cur - l.listOff
		m, err := readOneModuleBTF(mem, l, entry)
		if err != nil {
			b.warnings = append(b.warnings, fmt.Sprintf("BTF: btf_modules entry %d at %#x: %v", n, entry, err))
		} else {
			mods = append(mods, m)
			total += uint64(len(m.Data))
			if total > maxModuleBTFTotal {
				return mods, fmt.Errorf("btf_modules: more than %d bytes of module BTF, giving up at entry %d", maxModuleBTFTotal, n)
			}
		}
		next, err := btfReadU64(mem, cur)
		if err != nil {
			return mods, fmt.Errorf("btf_modules entry %d at %#x: list.next: %w", n, entry, err)
		}
		cur = next
	}
	return mods, nil
}

func readOneModuleBTF(mem kcore.Memory, l btfModuleLayout, entry uint64) (ModuleBTF, error) {
	var m ModuleBTF
	btfPtr, err := btfReadU64(mem, entry+l.btfOff)
	if err != nil {
		return m, fmt.Errorf("btf_module.btf: %w", err)
	}
	if btfPtr == 0 {
		return m, fmt.Errorf("btf_module.btf is NULL")
	}
	if l.nameLen > 0 {
		m.Name, err = btfReadCString(mem, btfPtr+l.nameOff, l.nameLen)
		if err != nil {
			return m, fmt.Errorf("btf %#x: name: %w", btfPtr, err)
		}
	}
	if m.Name == "" && l.modNameLen > 0 {
		modPtr, err := btfReadU64(mem, entry+l.moduleOff)
		if err == nil && modPtr != 0 {
			m.Name, err = btfReadCString(mem, modPtr+l.modNameOff, l.modNameLen)
		}
		if err != nil {
			return m, fmt.Errorf("btf_module.module->name: %w", err)
		}
	}
	if m.Name == "" {
		m.Name = fmt.Sprintf("module@%#x", entry)
	}
	data, err := btfReadU64(mem, btfPtr+l.dataOff)
	if err != nil {
		return m, fmt.Errorf("module %s: btf %#x: data: %w", m.Name, btfPtr, err)
	}
	var sz uint64
	if l.dataSizeLen == 4 {
		var b [4]byte
		err = mem.ReadVirt(b[:], btfPtr+l.dataSizeOff)
		sz = uint64(binary.LittleEndian.Uint32(b[:]))
	} else {
		sz, err = btfReadU64(mem, btfPtr+l.dataSizeOff)
	}
	if err != nil {
		return m, fmt.Errorf("module %s: btf %#x: data_size: %w", m.Name, btfPtr, err)
	}
	if sz < btfHeaderLen || sz > maxModuleBTFSize {
		return m, fmt.Errorf("module %s: btf %#x: implausible data_size %d", m.Name, btfPtr, sz)
	}
	m.Data, err = btfReadMemory(mem, data, sz)
	if err != nil {
		return m, fmt.Errorf("module %s: BTF data: %w", m.Name, err)
	}
	return m, nil
}

func btfReadU64(mem kcore.Memory, addr uint64) (uint64, error) {
	var b [8]byte
	if err := mem.ReadVirt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// readCString reads a NUL-terminated string from a char array of max bytes.
func btfReadCString(mem kcore.Memory, addr, max uint64) (string, error) {
	if max > 4096 {
		max = 4096
	}
	b := make([]byte, max)
	if err := mem.ReadVirt(b, addr); err != nil {
		return "", err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}
