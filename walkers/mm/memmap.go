package mm

import (
	"context"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// memmapChunk is the struct pages read at once when scanning.
const memmapChunk = 512

// ScanPages calls fn for the struct page of every pfn the zones span, in
// pfn order, until fn returns false. Pages whose struct page cannot be
// read are skipped and counted in the returned number (a filtered dump
// may lack parts of the memory map).
func ScanPages(ctx context.Context, p *symbols.Program, fn func(Page) bool) (unreadable uint64, err error) {
	l, err := getLayout(p)
	if err != nil {
		return 0, err
	}
	nodes, nerr := Nodes(p, false)
	if len(nodes) == 0 {
		return 0, fmt.Errorf("no memory nodes: %w", nerr)
	}
	buf := make([]byte, memmapChunk*l.pageSz)
	for _, n := range nodes {
		for _, z := range n.Zones {
			if z.Spanned == 0 {
				continue
			}
			end := z.StartPFN + z.Spanned
			for pfn := z.StartPFN; pfn < end; pfn += memmapChunk {
				if ctx != nil && ctx.Err() != nil {
					return unreadable, ctx.Err()
				}
				cnt := uint64(memmapChunk)
				if pfn+cnt > end {
					cnt = end - pfn
				}
				b := buf[:cnt*l.pageSz]
				addr := l.vmemmap + pfn*l.pageSz
				if err := p.Mem.ReadVirt(b, addr); err != nil {
					// read page by page what can be
					for i := uint64(0); i < cnt; i++ {
						pg, err := ReadPage(p, pfn+i)
						if err != nil {
							unreadable++
							continue
						}
						if !fn(pg) {
							return unreadable, nil
						}
					}
					continue
				}
				for i := uint64(0); i < cnt; i++ {
					pg := decodePage(p, l, addr+i*l.pageSz, pfn+i, b[i*l.pageSz:(i+1)*l.pageSz])
					if pg.IsHead(p) {
						// the first tail follows in the chunk, or is read
						pg.Order = folioOrder(p, l, pg.Addr)
					}
					if !fn(pg) {
						return unreadable, nil
					}
				}
			}
		}
	}
	return unreadable, nil
}

// CacheSlabs calls fn for every slab of cache c found in the memory map
// (slab pages whose slab_cache is c: full slabs too, which SLUB keeps on
// no list), with their free objects marked from the slab's freelist, the
// freelist of the CPU holding it, and (7.x) the CPUs' sheaves. It returns
// the number of struct pages it could not read.
func CacheSlabs(ctx context.Context, p *symbols.Program, c *Cache, fn func(Slab) error) (uint64, error) {
	cpuSlabs, cpuFree := c.cpuSlabs(p)
	sheaf := c.sheafObjects(p)
	var ferr error
	unread, err := ScanPages(ctx, p, func(pg Page) bool {
		if !pg.Slab || pg.Head != 0 || pg.SlabCache != c.Addr {
			return true
		}
		where := "node"
		if cpu, ok := cpuSlabs[pg.Addr]; ok {
			where = fmt.Sprintf("cpu %d", cpu)
		}
		s := c.readSlab(p, pg.Addr, where)
		if s.Free != nil {
			if fl, ok := cpuFree[pg.Addr]; ok && fl != 0 {
				if err := c.markFree(p, &s, fl); err != nil {
					s.Errors = append(s.Errors, "cpu freelist: "+err.Error())
				}
			}
			for i := range s.Free {
				if sheaf[s.Base+uint64(i)*c.Size+c.redLeft] {
					s.Free[i] = true
				}
			}
		}
		if ferr = fn(s); ferr != nil {
			return false
		}
		return true
	})
	if ferr != nil {
		return unread, ferr
	}
	return unread, err
}
