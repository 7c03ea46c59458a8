package block

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Bio is a struct bio (include/linux/blk_types.h): one I/O to a block
// device.
type Bio struct {
	Addr uint64 `json:"addr"`
	// Op is the operation: "WRITE", "READ", "FLUSH", "DISCARD", …
	// (enum req_op, enum req_opf in 5.10: the low REQ_OP_BITS of bi_opf).
	Op  string `json:"op"`
	Opf uint64 `json:"opf"`
	// Bdev is the block device it is for (bi_bdev; 5.10 has bi_disk and
	// bi_partno instead, and Bdev is 0, Disk set).
	Bdev uint64 `json:"bdev,omitempty"`
	Disk uint64 `json:"disk,omitempty"`
	// Sector and Size are where it is and how much is left (bi_iter).
	Sector uint64 `json:"sector"`
	Size   uint32 `json:"size"`
	// EndIO names bi_end_io, the function called when it completes
	// (ext4_end_bio, iomap_dio_bio_end_io, submit_bio_wait_endio, …),
	// and Private is bi_private, which that function interprets.
	EndIO   string `json:"end_io,omitempty"`
	Private uint64 `json:"private,omitempty"`
	// Pages are the pages of its bio_vecs (bv_page), at most
	// maxBioPages of them.
	Pages []uint64 `json:"pages,omitempty"`
}

// reqOpBits is REQ_OP_BITS (include/linux/blk_types.h, 8 in 5.10
// through 7.1): bi_opf's low bits are the operation.
const reqOpBits = 8

// maxBioPages bounds the bio_vecs read per bio.
const maxBioPages = 256

// ReadBio decodes the bio at addr.
func ReadBio(p *symbols.Program, addr uint64) (Bio, error) {
	o, err := p.Object("struct bio", addr)
	if err != nil {
		return Bio{}, fmt.Errorf("bio %#x: %w", addr, err)
	}
	b := Bio{Addr: addr}
	var firstErr error
	get := func(m string) uint64 {
		v, err := o.MemberUint(m)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("bio %#x: %w", addr, err)
		}
		return v
	}
	b.Opf = get("bi_opf")
	b.Sector = get("bi_iter.bi_sector")
	b.Size = uint32(get("bi_iter.bi_size"))
	if o.Type().HasMember("bi_bdev") {
		b.Bdev = get("bi_bdev")
	} else {
		b.Disk = get("bi_disk")
	}
	endIO := get("bi_end_io")
	b.Private = get("bi_private")
	if firstErr != nil {
		return b, firstErr
	}
	b.Op = reqOpName(p, b.Opf&(1<<reqOpBits-1))
	if endIO != 0 {
		if b.EndIO = symbolName(p, endIO); b.EndIO == "" {
			b.EndIO = fmt.Sprintf("%#x", endIO)
		}
	}
	b.Pages = bioPages(p, o)
	return b, nil
}

// bioPages reads the pages of the bio's first bi_vcnt bio_vecs.
func bioPages(p *symbols.Program, o symbols.Object) []uint64 {
	n, err1 := o.MemberUint("bi_vcnt")
	vecs, err2 := o.MemberUint("bi_io_vec")
	if err1 != nil || err2 != nil || vecs == 0 {
		return nil
	}
	size, err := p.SizeOf("struct bio_vec")
	if err != nil {
		return nil
	}
	off, err := p.OffsetOf("struct bio_vec", "bv_page")
	if err != nil {
		return nil
	}
	n = min(n, maxBioPages)
	var out []uint64
	for i := uint64(0); i < n; i++ {
		pg, err := p.ReadU64(vecs + i*size + off)
		if err != nil {
			break
		}
		out = append(out, pg)
	}
	return out
}

// reqOpName names an operation by enum req_op (6.0+) or enum req_opf
// (5.10): REQ_OP_WRITE → "WRITE".
func reqOpName(p *symbols.Program, op uint64) string {
	for _, name := range []string{"enum req_op", "enum req_opf"} {
		t, err := p.Type(name)
		if err != nil || t.Resolve() == nil {
			continue
		}
		for _, e := range t.Resolve().Enumerators {
			if uint64(e.Value) == op && strings.HasPrefix(e.Name, "REQ_OP_") && e.Name != "REQ_OP_LAST" {
				return strings.TrimPrefix(e.Name, "REQ_OP_")
			}
		}
	}
	// include/linux/blk_types.h, the same numbers in 5.10 through 7.1.
	switch op {
	case 0:
		return "READ"
	case 1:
		return "WRITE"
	case 2:
		return "FLUSH"
	case 3:
		return "DISCARD"
	}
	return fmt.Sprintf("op %d", op)
}

// BioChain reads the bios linked through bi_next from head (a struct
// bio_list, a request's bio chain), at most limit of them; more says the
// chain goes on.
func BioChain(p *symbols.Program, head uint64, limit int) (bios []Bio, more bool, err error) {
	seen := map[uint64]bool{}
	off, err := p.OffsetOf("struct bio", "bi_next")
	if err != nil {
		return nil, false, err
	}
	for a := head; a != 0; {
		if len(bios) >= limit {
			return bios, true, nil
		}
		if seen[a] {
			return bios, false, fmt.Errorf("bio chain from %#x: bio %#x met twice: %w", head, a, symbols.ErrCycle)
		}
		seen[a] = true
		b, err := ReadBio(p, a)
		if err != nil {
			return bios, false, err
		}
		bios = append(bios, b)
		if a, err = p.ReadU64(a + off); err != nil {
			return bios, false, fmt.Errorf("bio %#x: bi_next: %w", b.Addr, err)
		}
	}
	return bios, false, nil
}

// Describe is a bio in a few words: "WRITE of 4096 bytes at sector 556,
// end_io ext4_end_bio".
func (b Bio) Describe() string {
	s := fmt.Sprintf("%s of %d bytes at sector %d", b.Op, b.Size, b.Sector)
	if b.EndIO != "" {
		s += ", end_io " + b.EndIO
	}
	return s
}

// HasPage reports whether one of the bio's pages is page (a folio's
// address is its head page's).
func (b Bio) HasPage(page uint64) bool {
	for _, pg := range b.Pages {
		if pg == page {
			return true
		}
	}
	return false
}
