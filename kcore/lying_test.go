package kcore

import (
	"encoding/binary"
	"strings"
	"testing"
)

// Headers that lie about sizes and offsets give errors that say what is
// wrong, without panics or large allocations.
func TestLyingHeaders(t *testing.T) {
	m := newTinySynth()
	kd := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
	elf := readFileT(t, m.writeELF(t, elfQEMU, true, false))
	le := binary.LittleEndian
	bs := 512
	patch := func(b []byte, fn func([]byte)) []byte {
		c := append([]byte(nil), b...)
		fn(c)
		return c
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"kdump block_size 3", patch(kd, func(b []byte) { le.PutUint32(b[dhBlockSize:], 3) }), "block_size"},
		{"kdump block_size 1G", patch(kd, func(b []byte) { le.PutUint32(b[dhBlockSize:], 1<<30) }), "block_size"},
		{"kdump sub_hdr_size huge", patch(kd, func(b []byte) { le.PutUint32(b[dhSubHdrSize:], 1<<30) }), "sub_hdr_size"},
		{"kdump bitmap_blocks huge", patch(kd, func(b []byte) { le.PutUint32(b[dhBitmapBlocks:], 1<<30) }), "bitmaps"},
		{"kdump bitmap_blocks odd", patch(kd, func(b []byte) { le.PutUint32(b[dhBitmapBlocks:], 3) }), "bitmap_blocks"},
		{"kdump max_mapnr huge", patch(kd, func(b []byte) { le.PutUint64(b[bs+shMaxMapnr64:], 1<<50) }), "max_mapnr"},
		{"kdump vmcoreinfo past EOF", patch(kd, func(b []byte) { le.PutUint64(b[bs+shOffVMCI:], 1<<40) }), "vmcoreinfo"},
		{"kdump notes huge", patch(kd, func(b []byte) { le.PutUint64(b[bs+shSizeNote:], 1<<60) }), "notes"},
		{"kdump version garbage", patch(kd, func(b []byte) { le.PutUint32(b[dhVersion:], 0x7f7f7f7f) }), "header_version"},
		{"kdump truncated header", kd[:100], "header"},
		{"ELF phnum huge", patch(elf, func(b []byte) { le.PutUint16(b[56:], 0xfffe) }), "program headers"},
		{"ELF phoff past EOF", patch(elf, func(b []byte) { le.PutUint64(b[32:], 1<<40) }), "program headers"},
		{"ELF phentsize wrong", patch(elf, func(b []byte) { le.PutUint16(b[54:], 32) }), "e_phentsize"},
		{"ELF note past EOF", patch(elf, func(b []byte) { le.PutUint64(b[elfHdrSize+8:], 1<<40) }), "PT_NOTE"},
		{"ELF 32-bit", patch(elf, func(b []byte) { b[4] = 1 }), "ELF64"},
		{"flattened record past EOF", patch(flatten(kd, 700, 1), func(b []byte) {
			binary.BigEndian.PutUint64(b[flatHeaderSize+8:], 1<<40)
		}), "past the end"},
		{"flattened cut in a record", flatten(kd, 700, 1)[:flatHeaderSize+16+700], "truncated"},
		{"flattened wrong type", patch(flatten(kd, 700, 1), func(b []byte) { binary.BigEndian.PutUint64(b[16:], 9) }), "type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "lying", c.data)
			d, err := Open(path, Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q should name %s and mention %q", err, path, c.want)
			}
		})
	}
}
