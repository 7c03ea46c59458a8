package symbols

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// Without CONFIG_KALLSYMS_ALL (Debian's arm64 kernels) kallsyms has no
// __start_BTF: only text symbols and the text markers. The .BTF section
// lies in the read-only data between the end of the kernel text and the
// init text (include/asm-generic/vmlinux.lds.h RO_DATA, BTF), so it is
// found there by its header.

// btfScanChunk is how much of the image one read of the scan covers.
const btfScanChunk = 1 << 20

// maxBTFScan bounds the range scanned for the header.
const maxBTFScan = 512 << 20

// findBTFInImage looks for the vmlinux BTF header in [_etext, _sinittext):
// magic 0xeB9F, version 1, flags 0, a 24-byte header, types at offset 0
// followed directly by the strings, whose first byte is NUL. It returns the
// address and the header's total length.
func findBTFInImage(mem kcore.Memory, syms SymbolTable) (uint64, uint64, error) {
	lo, err := syms.Lookup("_etext")
	if err != nil {
		return 0, 0, err
	}
	hi, err := syms.Lookup("_sinittext")
	if err != nil {
		return 0, 0, err
	}
	if hi.Addr <= lo.Addr || hi.Addr-lo.Addr > maxBTFScan {
		return 0, 0, fmt.Errorf("_etext %#x .. _sinittext %#x is not a plausible range", lo.Addr, hi.Addr)
	}
	start := lo.Addr &^ 3
	magic := []byte{0x9f, 0xeb, 1, 0, btfHeaderLen, 0, 0, 0, 0, 0, 0, 0}
	buf := make([]byte, btfScanChunk+btfHeaderLen)
	var readErrs int
	for at := start; at < hi.Addr; at += btfScanChunk {
		n := min(uint64(len(buf)), hi.Addr-at)
		b := buf[:n]
		if err := mem.ReadVirt(b, at); err != nil {
			// A page missing from a filtered dump: skip its chunk.
			readErrs++
			continue
		}
		for off := 0; ; {
			i := bytes.Index(b[off:], magic)
			if i < 0 {
				break
			}
			pos := off + i
			off = pos + 4
			if pos%4 != 0 || pos+btfHeaderLen > len(b) {
				continue
			}
			h := b[pos:]
			typeLen := binary.LittleEndian.Uint32(h[12:])
			strOff := binary.LittleEndian.Uint32(h[16:])
			strLen := binary.LittleEndian.Uint32(h[20:])
			size := uint64(btfHeaderLen) + uint64(strOff) + uint64(strLen)
			if strOff != typeLen || typeLen == 0 || strLen == 0 || size > maxBTFSize {
				continue
			}
			var nul [1]byte
			if mem.ReadVirt(nul[:], at+uint64(pos)+btfHeaderLen+uint64(strOff)) != nil || nul[0] != 0 {
				continue
			}
			return at + uint64(pos), size, nil
		}
	}
	if readErrs > 0 {
		return 0, 0, fmt.Errorf("no BTF header in _etext %#x .. _sinittext %#x (%d MiB chunks unreadable)", lo.Addr, hi.Addr, readErrs)
	}
	return 0, 0, errors.New("no BTF header between _etext and _sinittext")
}
