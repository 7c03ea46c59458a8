package kcore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxVMCoreInfo bounds the VMCOREINFO text we accept. The kernel's buffer is
// one page (VMCOREINFO_BYTES, include/linux/vmcore_info.h); a few pages of
// slack covers architectures with bigger pages.
const maxVMCoreInfo = 1 << 20

// VMCoreInfo is the kernel's VMCOREINFO note: "KEY=VALUE" lines that the
// kernel writes for dump tools (kernel/vmcore_info.c, crash_core.c before
// 6.8). The typed accessors apply the number base the kernel prints each key
// with (include/linux/vmcore_info.h):
//
//	SYMBOL(x)=%lx, KERNELOFFSET=%lx            hex, no 0x
//	NUMBER(x)=%ld (some arch keys 0x%llx)      decimal unless 0x-prefixed
//	OFFSET/SIZE/LENGTH=%lu, PAGESIZE=%ld,
//	CRASHTIME=%lld                             decimal
type VMCoreInfo struct {
	raw  string
	keys []string          // in note order, first occurrence
	kv   map[string]string // the last value written wins, like makedumpfile
}

// ParseVMCoreInfo parses VMCOREINFO text. Lines without '=' are ignored;
// trailing NULs (the note's padding) are dropped.
func ParseVMCoreInfo(b []byte) (*VMCoreInfo, error) {
	if len(b) > maxVMCoreInfo {
		return nil, fmt.Errorf("VMCOREINFO: %d bytes is more than the %d accepted", len(b), maxVMCoreInfo)
	}
	s := strings.TrimRight(string(b), "\x00")
	v := &VMCoreInfo{raw: s, kv: make(map[string]string)}
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, "\r\x00")
		k, val, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := v.kv[k]; !seen {
			v.keys = append(v.keys, k)
		}
		v.kv[k] = val
	}
	if len(v.kv) == 0 {
		return nil, fmt.Errorf("VMCOREINFO: no KEY=VALUE lines in %d bytes", len(b))
	}
	return v, nil
}

// Raw is the note text as the kernel wrote it.
func (v *VMCoreInfo) Raw() string { return v.raw }

// Keys lists the keys in the order they first appear.
func (v *VMCoreInfo) Keys() []string { return append([]string(nil), v.keys...) }

// Get returns the raw value of key, e.g. Get("SYMBOL(_stext)").
func (v *VMCoreInfo) Get(key string) (string, bool) {
	s, ok := v.kv[key]
	return s, ok
}

// OSRelease is the kernel release (utsname release), or "".
func (v *VMCoreInfo) OSRelease() string { return v.kv["OSRELEASE"] }

// BuildID is the vmlinux GNU build ID in hex, or "". Some 6.12-era stable
// kernels print garbage here (lib/buildid.c hardening, 905415ff3ffb), so treat
// it as a hint.
func (v *VMCoreInfo) BuildID() string { return v.kv["BUILD-ID"] }

// PageSize is PAGESIZE (decimal).
func (v *VMCoreInfo) PageSize() (uint64, bool) { return v.unsigned("PAGESIZE") }

// KernelOffset is the KASLR offset KERNELOFFSET (hex, arch/x86/kernel/vmcore_info_64.c).
func (v *VMCoreInfo) KernelOffset() (uint64, bool) {
	return parseHex(v.kv["KERNELOFFSET"])
}

// CrashTime is CRASHTIME, written by crash_save_vmcoreinfo() at panic time.
// Live images and hypervisor dumps have none.
func (v *VMCoreInfo) CrashTime() (time.Time, bool) {
	s, ok := v.kv["CRASHTIME"]
	if !ok {
		return time.Time{}, false
	}
	n, err := parseSigned(s)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// Symbol is SYMBOL(name): a runtime (KASLR-relocated) address, hex.
func (v *VMCoreInfo) Symbol(name string) (uint64, bool) {
	return parseHex(v.kv["SYMBOL("+name+")"])
}

// Number is NUMBER(name): signed decimal, or hex when 0x-prefixed.
func (v *VMCoreInfo) Number(name string) (int64, bool) {
	s, ok := v.kv["NUMBER("+name+")"]
	if !ok {
		return 0, false
	}
	n, err := parseSigned(s)
	return n, err == nil
}

// Offset is OFFSET(member), e.g. Offset("uts_namespace.name").
func (v *VMCoreInfo) Offset(member string) (uint64, bool) {
	return v.unsigned("OFFSET(" + member + ")")
}

// Size is SIZE(name).
func (v *VMCoreInfo) Size(name string) (uint64, bool) { return v.unsigned("SIZE(" + name + ")") }

// Length is LENGTH(name).
func (v *VMCoreInfo) Length(name string) (uint64, bool) { return v.unsigned("LENGTH(" + name + ")") }

func (v *VMCoreInfo) unsigned(key string) (uint64, bool) {
	s, ok := v.kv[key]
	if !ok {
		return 0, false
	}
	n, err := parseUnsigned(s)
	return n, err == nil
}

// parseHex parses a hex number with or without 0x.
func parseHex(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil
}

// parseUnsigned parses decimal, or hex with a 0x prefix. A leading 0 is not
// octal: the kernel never prints octal.
func parseUnsigned(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseUint(h, 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

func parseSigned(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := false
	if r, ok := strings.CutPrefix(s, "-"); ok {
		neg, s = true, r
	}
	u, err := parseUnsigned(s)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, strconv.ErrRange
		}
		return -int64(u), nil
	}
	// %ld of an unsigned long above 2^63 prints negative; a 0x%llx value
	// above it is kept as its two's complement bit pattern.
	return int64(u), nil
}
