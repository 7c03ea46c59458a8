package kcore

import "errors"

// Options control how an image is opened.
type Options struct {
	// ZeroExcluded reads pages the dump left out as zeros instead of failing
	// (crash's --zero_excluded).
	ZeroExcluded bool
	// CacheBytes bounds the cache of decoded pages; 0 means the default (64 MiB).
	CacheBytes int
}

// Dump is an opened kernel memory image.
type Dump struct {
	opts Options
}

var errTODO = errors.New("kcore: not implemented yet")

// Open opens a crash dump file of any supported format.
func Open(path string, opts Options) (*Dump, error) { return nil, errTODO }

// OpenLive opens the running kernel through /proc/kcore.
func OpenLive(opts Options) (*Dump, error) { return nil, errTODO }

// ReadVirt implements Memory.
func (d *Dump) ReadVirt(p []byte, addr uint64) error { return errTODO }

// ReadPhys implements Memory.
func (d *Dump) ReadPhys(p []byte, addr uint64) error { return errTODO }
