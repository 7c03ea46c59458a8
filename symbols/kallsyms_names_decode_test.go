package symbols

import (
	"fmt"
	"testing"
)

// serialNames is the plain decode expandNames must agree with: expandName
// entry after entry.
func serialNames(names []byte, n int, toks *[256]string, big bool) ([]string, []byte, error) {
	var out []string
	var types []byte
	var scratch [maxSymbolName + maxToken]byte
	pos := 0
	for i := range n {
		exp, next, err := expandName(names, pos, toks, big, scratch[:0])
		if err != nil {
			return nil, nil, fmt.Errorf("kallsyms_names: symbol %d of %d at offset %d: %w", i, n, pos, err)
		}
		out = append(out, string(exp[1:]))
		types = append(types, exp[0])
		pos = next
	}
	return out, types, nil
}

// checkExpandNames compares expandNamesIn with every split against the
// serial decode, names and errors alike.
func checkExpandNames(t *testing.T, names []byte, n int, toks *[256]string, big bool) {
	t.Helper()
	want, wantTypes, wantErr := serialNames(names, n, toks, big)
	offs, _, err := entryOffsets(names, n, big)
	if err != nil {
		if wantErr == nil {
			t.Fatalf("entryOffsets: %v, but the serial decode works", err)
		}
		return
	}
	for _, parts := range []int{1, 2, 3, 7} {
		got, err := expandNamesIn(names, offs, toks, big, parts)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("%d parts: error %v, serial decode %v", parts, err, wantErr)
		}
		if err != nil {
			continue
		}
		for i := range n {
			if got.name(i) != want[i] || got.types[i] != wantTypes[i] {
				t.Fatalf("%d parts: symbol %d is %c %q, serial decode %c %q", parts, i, got.types[i], got.name(i), wantTypes[i], want[i])
			}
		}
	}
}

func TestExpandNamesSplits(t *testing.T) {
	base := uint64(testText + 0x210000)
	for _, big := range []bool{false, true} {
		syms := testKernelSyms(testText, 300)
		img, addrs, err := genKallsyms(base, syms, genOpts{enc: encAbsolutePercpu, big: big})
		if err != nil {
			t.Fatal(err)
		}
		part := func(from, to string) []byte { return img[addrs[from]-base : addrs[to]-base] }
		toks, err := decodeTokens(part("kallsyms_token_table", "kallsyms_token_index"), img[addrs["kallsyms_token_index"]-base:])
		if err != nil {
			t.Fatal(err)
		}
		names := part("kallsyms_names", "kallsyms_markers")
		t.Run(fmt.Sprintf("big=%v/clean", big), func(t *testing.T) {
			checkExpandNames(t, names, len(syms), toks, big)
		})
		// A damaged token: names using it fall to the slow path and fail
		// with the serial decode's error (or still decode the same).
		for _, tok := range []int{0, 1, 200, 255} {
			t.Run(fmt.Sprintf("big=%v/token %d unprintable", big, tok), func(t *testing.T) {
				bad := *toks
				bad[tok] = toks[tok] + "\x01"
				checkExpandNames(t, names, len(syms), &bad, big)
			})
			t.Run(fmt.Sprintf("big=%v/token %d long", big, tok), func(t *testing.T) {
				bad := *toks
				bad[tok] = toks[tok] + fmt.Sprintf("%0*d", maxToken-len(toks[tok]), 0)
				checkExpandNames(t, names, len(syms), &bad, big)
			})
		}
	}
}

// TestExpandNamesSharedDump compares the parallel decode with the serial one
// on a real kernel's table.
func TestExpandNamesSharedDump(t *testing.T) {
	d := openSharedDump(t)
	a, err := kallsymsFromVMCoreInfo(d.VMCoreInfo())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readKallsyms(d, a)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := decodeTokens(raw.tokenTable, raw.tokenIndex)
	if err != nil {
		t.Fatal(err)
	}
	checkExpandNames(t, raw.names, raw.numSyms, toks, true)
}

func BenchmarkDecodeNamesSharedDump(b *testing.B) {
	d := openSharedDump(b)
	a, err := kallsymsFromVMCoreInfo(d.VMCoreInfo())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := readKallsyms(d, a)
	if err != nil {
		b.Fatal(err)
	}
	toks, err := decodeTokens(raw.tokenTable, raw.tokenIndex)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := decodeNames(raw.names, raw.numSyms, toks, true); err != nil {
			b.Fatal(err)
		}
	}
}
