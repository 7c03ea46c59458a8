package testdata

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/testdata/truth"
)

// Format names a dump file's format.
type Format string

// Dump formats. QEMU writes kdump files in makedumpfile's flattened form;
// "kdump-zlib" is the same dump rearranged into a plain kdump file by
// makedumpfile -R. The makedumpfile-* files were written by makedumpfile from
// the ELF dump (-d 0 keeps every page; -d 31 excludes zero, cache, user and
// free pages, so reads of those pages must fail as excluded).
const (
	FormatELF                = Format("elf")                   // QEMU dump-guest-memory, paging=false: PT_LOADs by physical address
	FormatELFPaging          = Format("elf-paging")            // QEMU dump-guest-memory, paging=true: PT_LOADs of the CPU's virtual mappings
	FormatKdumpZlibFlat      = Format("kdump-zlib-flat")       // QEMU kdump-zlib
	FormatKdumpLZOFlat       = Format("kdump-lzo-flat")        // QEMU kdump-lzo
	FormatKdumpSnappyFlat    = Format("kdump-snappy-flat")     // QEMU kdump-snappy
	FormatKdumpZlib          = Format("kdump-zlib")            // makedumpfile -R of kdump-zlib-flat
	FormatMakedumpfileZlib   = Format("makedumpfile-zlib")     // makedumpfile -c -d 0
	FormatMakedumpfileLZO    = Format("makedumpfile-lzo")      // makedumpfile -l -d 0
	FormatMakedumpfileZlib31 = Format("makedumpfile-zlib-d31") // makedumpfile -c -d 31
	FormatMakedumpfileSnappy = Format("makedumpfile-snappy")   // makedumpfile -p -d 0, when built with snappy
	FormatMakedumpfileZstd   = Format("makedumpfile-zstd")     // makedumpfile -z -d 0, when built with zstd
	// QEMU ≥ 8.2 also writes kdump-raw-*; the generator adds them when offered.
	FormatKdumpRawZlib = Format("kdump-raw-zlib")
)

// Manifest is what the generator writes beside a finished dump
// (manifest.json).
type Manifest struct {
	Guest         Guest
	Kernel        Kernel
	Key           string
	GeneratorHash string
	Release       string             // uname -r of the guest, from VMCOREINFO OSRELEASE
	PagingLevels  int                // from VMCOREINFO pgtable_l5_enabled
	Files         map[Format]string  // format → file name in the dump directory
	Console       string             // file name of the serial console log
	KernelRoot    string             // extracted packages: boot/, lib/modules/... (absolute)
	Vmlinuz       string             // absolute path of the booted kernel image
	QEMU          string             // qemu-system-x86_64 --version, first line
	Seconds       map[string]float64 // phase timings
	// Kwalk names the kwalk the guest ran live (digest of the static
	// binary, git describe of the tree); not part of Key.
	Kwalk string `json:",omitempty"`
	// Kdump says how a kdump guest's dump was made (trigger, capture
	// kernel, tools, which command wrote each file); nil for the others.
	Kdump *KdumpManifest `json:",omitempty"`
}

// Dump is one generated dump.
type Dump struct {
	Manifest
	Dir string // the dump's directory in the cache
	// Truth is the guest's own record, parsed from the console.
	Truth *truth.Record
	// DebugRoot is the usr/lib/debug directory of the kernel's -dbg package
	// (boot/vmlinux-RELEASE, boot/System.map-RELEASE,
	// lib/modules/RELEASE/kernel/fs/fuse/fuse.ko) when the generator fetched
	// it, else "".
	DebugRoot string
}

// DebugDir is where the generator unpacks kernel k's -dbg package.
func DebugDir(k Kernel) string {
	if k.Debug == nil {
		return ""
	}
	return filepath.Join(CacheDir(), "debug", k.ID+"-"+k.Debug.Name+"_"+k.Debug.Version)
}

// DebugMarker is the file the generator leaves in a kernel's unpacked
// -dbg package when it is complete; its name changes with what is kept
// (v2: the sunrpc and nfs modules' debug files besides fuse's), so that
// an older unpacking is made again.
const DebugMarker = ".extracted-v2"

// DebugRoot returns the unpacked usr/lib/debug of kernel k's -dbg package, or
// an error saying why there is none.
func DebugRoot(k Kernel) (string, error) {
	dir := DebugDir(k)
	if dir == "" {
		return "", fmt.Errorf("kernel %s: no -dbg package pinned", k.ID)
	}
	if _, err := os.Stat(filepath.Join(dir, DebugMarker)); err != nil {
		return "", fmt.Errorf("kernel %s: %s not unpacked (%s): %w", k.ID, k.Debug.Name, GenerateCommand, err)
	}
	return filepath.Join(dir, "usr", "lib", "debug"), nil
}

// ID is "KERNEL/GUEST", e.g. "6.1/hangs".
func (d *Dump) ID() string { return d.Guest.Kernel + "/" + d.Guest.Name }

// Path returns the path of the dump in format f, or "" when it was not made.
func (d *Dump) Path(f Format) string {
	name, ok := d.Files[f]
	if !ok {
		return ""
	}
	return filepath.Join(d.Dir, name)
}

// Formats lists the formats this dump has, sorted.
func (d *Dump) Formats() []Format {
	out := make([]Format, 0, len(d.Files))
	for f := range d.Files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Has reports whether the guest staged scenario sc.
func (d *Dump) Has(sc string) bool {
	for _, s := range d.Guest.Scenarios {
		if s == sc {
			return true
		}
	}
	return false
}

// CacheDir is where dumps are kept: $KWALK_DUMP_CACHE, else
// ~/.cache/kwalk-dumps (os.UserCacheDir).
func CacheDir() string {
	if d := os.Getenv("KWALK_DUMP_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kwalk-dumps")
	}
	return filepath.Join(os.TempDir(), "kwalk-dumps")
}

// DumpDir is the directory of g's dump in the cache.
func DumpDir(g Guest, k Kernel) string {
	return filepath.Join(CacheDir(), "dumps", g.Kernel, g.Name+"-"+Key(g, k))
}

// ResolveKernel applies the KWALK_KERNEL_<ID> override to k's packages.
func ResolveKernel(k Kernel) (Kernel, error) {
	env := "KWALK_KERNEL_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(k.ID))
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		return k, nil
	}
	var pkgs []Package
	for _, f := range strings.Fields(v) {
		name, ver, ok := strings.Cut(f, "=")
		if !ok || name == "" || ver == "" {
			return k, fmt.Errorf("%s: %q is not name=version", env, f)
		}
		pkgs = append(pkgs, Package{name, ver})
	}
	k.Packages = pkgs
	return k, nil
}

// Missing describes a dump that is not in the cache.
type Missing struct {
	Guest Guest
	Dir   string
	Err   error
}

// Dumps returns every guest's dump found in the cache, and what is missing.
// A dump whose record cannot be parsed counts as missing.
func Dumps() ([]*Dump, []Missing) {
	var found []*Dump
	var missing []Missing
	for _, g := range Guests {
		d, err := Load(g)
		if err != nil {
			missing = append(missing, Missing{Guest: g, Dir: dirOrEmpty(g), Err: err})
			continue
		}
		found = append(found, d)
	}
	return found, missing
}

func dirOrEmpty(g Guest) string {
	k, ok := KernelByID(g.Kernel)
	if !ok {
		return ""
	}
	k, err := ResolveKernel(k)
	if err != nil {
		return ""
	}
	return DumpDir(g, k)
}

// Load reads g's dump from the cache.
func Load(g Guest) (*Dump, error) {
	k, ok := KernelByID(g.Kernel)
	if !ok {
		return nil, fmt.Errorf("guest %s/%s: unknown kernel", g.Kernel, g.Name)
	}
	k, err := ResolveKernel(k)
	if err != nil {
		return nil, err
	}
	return LoadDir(DumpDir(g, k))
}

// LoadDir reads the dump in dir (a directory holding manifest.json).
func LoadDir(dir string) (*Dump, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	d := &Dump{Dir: dir}
	if err := json.Unmarshal(b, &d.Manifest); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	for f, name := range d.Files {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("dump %s format %s: %w", dir, f, err)
		}
	}
	if d.Truth, err = truth.ParseFile(filepath.Join(dir, d.Console)); err != nil {
		return nil, err
	}
	k := d.Kernel
	if pinned, ok := KernelByID(d.Guest.Kernel); ok {
		k = pinned
	}
	if root, err := DebugRoot(k); err == nil {
		d.DebugRoot = root
	}
	return d, nil
}
