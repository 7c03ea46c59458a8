package vfs

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Mapping is an inode's page cache: its struct address_space.
type Mapping struct {
	Inode   uint64 `json:"inode"`
	Mapping uint64 `json:"mapping"` // inode->i_mapping
	NrPages uint64 `json:"nrpages"` // mapping->nrpages: pages (6.x: folio pages) cached
}

// InodeMapping reads inode->i_mapping and its nrpages
// (include/linux/fs.h struct address_space).
func InodeMapping(p *symbols.Program, inode uint64) (Mapping, error) {
	m := Mapping{Inode: inode}
	off, err := p.OffsetOf("struct inode", "i_mapping")
	if err != nil {
		return m, err
	}
	if m.Mapping, err = p.ReadU64(inode + off); err != nil {
		return m, fmt.Errorf("inode %#x: i_mapping: %w", inode, err)
	}
	if m.Mapping == 0 {
		return m, nil
	}
	nOff, err := p.OffsetOf("struct address_space", "nrpages")
	if err != nil {
		return m, err
	}
	if m.NrPages, err = p.ReadU64(m.Mapping + nOff); err != nil {
		return m, fmt.Errorf("address_space %#x: nrpages: %w", m.Mapping, err)
	}
	return m, nil
}

// CachedPage is one entry of a page cache: a struct page (a folio's head
// page on 6.x) at an index of the file, in pages.
type CachedPage struct {
	Index uint64 `json:"index"`
	Page  uint64 `json:"page"`
}

// CachedPages returns the pages in mapping's i_pages xarray in index order
// (mm/filemap.c); value entries (shadows of evicted pages, swap entries)
// are not pages and are left out, counted in shadows.
func CachedPages(p *symbols.Program, mapping uint64) (pages []CachedPage, shadows int, err error) {
	off, err := p.OffsetOf("struct address_space", "i_pages")
	if err != nil {
		return nil, 0, err
	}
	ents, err := kmem.XArrayEntries(p, mapping+off, fmt.Sprintf("address_space %#x i_pages", mapping))
	for _, e := range ents {
		if e.Value&1 != 0 { // xa_is_value
			shadows++
			continue
		}
		pages = append(pages, CachedPage{Index: e.Index, Page: e.Value})
	}
	return pages, shadows, err
}
