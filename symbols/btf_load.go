package symbols

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/kwalk/kwalk/kcore"
)

// LiveBTFDir is where the running kernel exposes its BTF
// (kernel/bpf/sysfs_btf.c for vmlinux, kernel/bpf/btf.c for modules).
const LiveBTFDir = "/sys/kernel/btf"

// LoadBTFFile loads vmlinux BTF from a file: a raw BTF blob (a copy of
// /sys/kernel/btf/vmlinux) or an ELF file with a .BTF section (vmlinux).
func LoadBTFFile(path string) (*BTFTypes, error) {
	raw, err := readBTFFile(path)
	if err != nil {
		return nil, err
	}
	return NewBTFTypes(raw, path)
}

// readBTFFile returns the raw BTF of a raw blob or of an ELF file's .BTF
// section.
func readBTFFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("BTF: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, fmt.Errorf("BTF %s: %w", path, err)
	}
	if string(magic[:]) == elf.ELFMAG {
		ef, err := elf.NewFile(f)
		if err != nil {
			return nil, fmt.Errorf("BTF %s: %w", path, err)
		}
		sec := ef.Section(".BTF")
		if sec == nil {
			return nil, fmt.Errorf("BTF %s: no .BTF section", path)
		}
		if sec.Size > maxBTFSize {
			return nil, fmt.Errorf("BTF %s: .BTF section of %d bytes exceeds %d", path, sec.Size, maxBTFSize)
		}
		raw, err := sec.Data()
		if err != nil {
			return nil, fmt.Errorf("BTF %s: reading .BTF: %w", path, err)
		}
		return raw, nil
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("BTF %s: %w", path, err)
	}
	// sysfs files report size 4096 or the real size; read to EOF, bounded.
	if st.Mode().IsRegular() && st.Size() > maxBTFSize && st.Size() != 4096 {
		return nil, fmt.Errorf("BTF %s: %d bytes exceeds %d", path, st.Size(), maxBTFSize)
	}
	raw, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, maxBTFSize+1), maxBTFSize+1))
	if err != nil {
		return nil, fmt.Errorf("BTF %s: %w", path, err)
	}
	if len(raw) > maxBTFSize {
		return nil, fmt.Errorf("BTF %s: larger than %d bytes", path, maxBTFSize)
	}
	return raw, nil
}

// AddModuleFile adds a module's split BTF from a raw blob or a .ko file.
// name defaults to the file name without ".ko".
func (b *BTFTypes) AddModuleFile(name, path string) error {
	raw, err := readBTFFile(path)
	if err != nil {
		return err
	}
	if name == "" {
		name = moduleNameFromPath(path)
	}
	return b.AddModule(name, raw)
}

func moduleNameFromPath(path string) string {
	n := filepath.Base(path)
	for _, ext := range []string{".xz", ".zst", ".gz", ".ko", ".debug"} {
		if len(n) > len(ext) && n[len(n)-len(ext):] == ext {
			n = n[:len(n)-len(ext)]
		}
	}
	return n
}

// LoadLiveBTF loads the running kernel's BTF from /sys/kernel/btf; module
// BTF (/sys/kernel/btf/<module>) is read on the first miss.
func LoadLiveBTF() (*BTFTypes, error) {
	return loadBTFDir(LiveBTFDir)
}

func loadBTFDir(dir string) (*BTFTypes, error) {
	raw, err := readBTFFile(filepath.Join(dir, "vmlinux"))
	if err != nil {
		return nil, err
	}
	b, err := NewBTFTypes(raw, dir)
	if err != nil {
		return nil, err
	}
	b.loadModules = func(*BTFTypes) ([]ModuleBTF, error) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		var mods []ModuleBTF
		var errs []error
		for _, e := range ents {
			if e.Name() == "vmlinux" || e.IsDir() {
				continue
			}
			raw, err := readBTFFile(filepath.Join(dir, e.Name()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			mods = append(mods, ModuleBTF{Name: e.Name(), Data: raw})
		}
		sort.Slice(mods, func(i, j int) bool { return mods[i].Name < mods[j].Name })
		return mods, errors.Join(errs...)
	}
	return b, nil
}

// btfReadChunk is how much kernel memory one read asks for, so that an
// error names the failing region closely.
const btfReadChunk = 64 << 10

// LoadBTFFromMemory loads vmlinux BTF from kernel memory between the
// __start_BTF and __stop_BTF symbols (the .BTF section, kept in kallsyms
// because of its __start_ prefix; include/asm-generic/vmlinux.lds.h).
// Module BTF is read from the btf_modules list on the first lookup that
// misses vmlinux (see btf_modules.go).
func LoadBTFFromMemory(mem kcore.Memory, syms SymbolTable) (*BTFTypes, error) {
	if syms == nil {
		return nil, fmt.Errorf("BTF from memory: no symbol table")
	}
	start, err := syms.Lookup("__start_BTF")
	if err != nil {
		// No data symbols in kallsyms (btf_scan.go).
		addr, size, serr := findBTFInImage(mem, syms)
		if serr != nil {
			return nil, fmt.Errorf("BTF from memory: %w; looking for its header in the image: %v", err, serr)
		}
		return LoadBTFFromMemoryAt(mem, addr, size, syms)
	}
	stop, err := syms.Lookup("__stop_BTF")
	if err != nil {
		return nil, fmt.Errorf("BTF from memory: %w", err)
	}
	if stop.Addr <= start.Addr || stop.Addr-start.Addr > maxBTFSize {
		return nil, fmt.Errorf("BTF from memory: __start_BTF %#x .. __stop_BTF %#x is not a plausible range", start.Addr, stop.Addr)
	}
	return LoadBTFFromMemoryAt(mem, start.Addr, stop.Addr-start.Addr, syms)
}

// LoadBTFFromMemoryAt loads vmlinux BTF of at most size bytes at addr.
// syms (may be nil) locates btf_modules for module BTF.
func LoadBTFFromMemoryAt(mem kcore.Memory, addr, size uint64, syms SymbolTable) (*BTFTypes, error) {
	var hdr [btfHeaderLen]byte
	if err := mem.ReadVirt(hdr[:], addr); err != nil {
		return nil, fmt.Errorf("BTF header at %#x: %w", addr, err)
	}
	_, _, end, err := parseBTFHeader(hdr[:])
	if err != nil {
		return nil, fmt.Errorf("BTF at %#x: %w", addr, err)
	}
	if end > size {
		return nil, fmt.Errorf("BTF at %#x: header claims %d bytes, the section has %d", addr, end, size)
	}
	raw, err := btfReadMemory(mem, addr, end)
	if err != nil {
		return nil, fmt.Errorf("vmlinux BTF: %w", err)
	}
	// The parse below is single-threaded: a symbol table that indexes its
	// names lazily can do so on another core meanwhile.
	if ix, ok := syms.(backgroundIndexer); ok {
		ix.IndexNamesInBackground()
	}
	b, err := NewBTFTypes(raw, "dump memory")
	if err != nil {
		return nil, err
	}
	if syms != nil {
		b.loadModules = func(b *BTFTypes) ([]ModuleBTF, error) {
			return readModuleBTF(b, mem, syms)
		}
	}
	return b, nil
}

// backgroundIndexer is a symbol table that can build its name index in the
// background (*SymTable).
type backgroundIndexer interface{ IndexNamesInBackground() }

// btfReadMemory reads n bytes of kernel virtual memory at addr in chunks.
func btfReadMemory(mem kcore.Memory, addr, n uint64) ([]byte, error) {
	return readParallel(mem, addr, n)
}

// readParallel reads n bytes of kernel virtual memory at addr in chunks. A
// *kcore.Dump (safe for concurrent reads) is read by several goroutines:
// decompressing the dump's pages is most of the cost of loading BTF and
// kallsyms.
func readParallel(mem kcore.Memory, addr, n uint64) ([]byte, error) {
	if n > maxBTFSize {
		return nil, fmt.Errorf("read of %d bytes at %#x exceeds %d", n, addr, maxBTFSize)
	}
	buf := make([]byte, n)
	chunks := (n + btfReadChunk - 1) / btfReadChunk
	workers := uint64(1)
	if _, ok := mem.(*kcore.Dump); ok {
		workers = min(uint64(runtime.GOMAXPROCS(0)), chunks, 8)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := uint64(0); w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := w; c < chunks; c += workers {
				off := c * btfReadChunk
				end := min(off+btfReadChunk, n)
				if err := mem.ReadVirt(buf[off:end], addr+off); err != nil {
					errs[w] = fmt.Errorf("read %d bytes at %#x: %w", end-off, addr+off, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
